"""GrowthBook connector: experiments, variations and results from a self-hosted API host, from fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources.growthbook import GrowthBookConnector
from productops.dashboards.selectors import recent_experiments
from productops.signals.models import Experiment, ExperimentResult, Variant
from productops.ui.filters import Filters

from .signal_helpers import connection, load, product, query, sync

API = "https://growthbook-api.acme.example/api/v1"
E1, E2, E3, E4, E5 = (f"exp_19g61pmls8xnq{c}" for c in "klmno")
CONFIG = {
    "api_host": "https://growthbook-api.acme.example",
    "page_size": 2,
    "product_map": {"prj_web": "web-app", "prj_app": "mobile-app"},
}
SECRETS = {"api_key": "secret_admin_7f3c0d5e9a1b2c4d"}
AUTH = {"Authorization": f"Bearer {SECRETS['api_key']}"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["growthbook-api.acme.example"] = ["93.184.215.14"]
    return fake_dns


def serve_list(first: str = "experiments_page1.json") -> None:
    for name, offset in ((first, 0), ("experiments_page2.json", 2), ("experiments_page3.json", 4)):
        responses.get(
            f"{API}/experiments",
            json=load("growthbook", name),
            match=[
                matchers.query_param_matcher({"limit": "2", "offset": str(offset)}),
                matchers.header_matcher(AUTH),
            ],
        )


def serve_results(experiment: str, name: str, status: int = 200) -> None:
    responses.get(f"{API}/experiments/{experiment}/results", json=load("growthbook", name), status=status)


def result_calls(since: int = 0) -> list[str]:
    return [
        str(c.request.url).split("/")[-2]
        for c in responses.calls[since:]
        if str(c.request.url).endswith("/results")
    ]


@pytest.mark.django_db
@responses.activate
def test_full_then_incremental_then_idempotent_through_sync_connection() -> None:
    web, app = product("web-app"), product("mobile-app")
    conn = connection("growthbook", CONFIG, SECRETS)
    serve_list()
    serve_results(E1, "results_checkout_day1.json")
    serve_results(E2, "results_pricing.json")
    serve_results(E4, "results_search.json")
    serve_results(E5, "error_404.json", status=404)  # stopped before any analysis ran

    sync(conn)

    assert result_calls() == [E1, E2, E4, E5]  # never for the draft
    exps = {e.external_id: e for e in Experiment.objects.filter(source_key=conn.source_key)}
    assert sorted(exps) == [E1, E2, E3, E4, E5]
    cta = exps[E1]
    assert (cta.key, cta.name, cta.status, cta.primary_metric, cta.product_id) == (
        "checkout-cta",
        "Checkout CTA copy",
        "running",
        "met_conv",
        web.pk,
    )
    assert cta.hypothesis == "Clearer CTA copy lifts checkout conversion"
    assert cta.started_at == datetime(2026, 3, 1, tzinfo=UTC) and cta.ended_at is None
    assert cta.traffic_split == {"control": 0.5, "treatment": 0.5}
    assert exps[E2].status == "stopped" and exps[E2].ended_at == datetime(2026, 2, 28, tzinfo=UTC)
    assert exps[E3].status == "draft" and exps[E3].started_at is None and exps[E3].product_id == app.pk
    assert [
        (v.key, v.is_control, v.weight) for v in Variant.objects.filter(experiment=exps[E4]).order_by("key")
    ] == [
        ("b", False, 0.33),
        ("c", False, 0.33),
        ("control", True, 0.34),
    ]
    rows = {
        (r.variant.key, r.metric_key): r
        for r in ExperimentResult.objects.filter(experiment=cta).select_related("variant")
    }
    assert len(rows) == 4
    control = rows[("control", "met_conv")]
    assert (control.kind, control.date, control.exposures, control.conversions, control.value_sum) == (
        "conversion",
        date(2026, 3, 2),
        1000,
        100,
        None,
    )
    assert rows[("treatment", "met_conv")].conversions == 131
    revenue = rows[("control", "met_rev")]
    assert (revenue.kind, revenue.exposures, revenue.conversions, revenue.value_sum) == (
        "continuous",
        1000,
        None,
        25000.5,
    )
    assert revenue.value_sum_squares == pytest.approx(999 * 12.5**2 + 1000 * 25.0005**2)
    assert not ExperimentResult.objects.filter(experiment=exps[E5]).exists()
    assert conn.cursors == {"experiments": {"watermark": "2026-03-02T06:00:00.000Z"}}

    # Next sync: the list is re-read (no "since" filter), results only for running or changed experiments.
    before = len(responses.calls)
    serve_list("experiments_page1_updated.json")
    serve_results(E1, "results_checkout_day2.json")
    sync(conn)
    assert result_calls(before) == [E1, E4]  # not the stopped, unchanged E2 and E5
    assert [
        query(c)["offset"]
        for c in responses.calls[before:]
        if str(c.request.url).split("?")[0].endswith("/experiments")
    ] == [
        "0",
        "2",
        "4",
    ]
    day2 = ExperimentResult.objects.get(
        experiment=cta, variant__key="treatment", metric_key="met_conv", date=date(2026, 3, 3)
    )
    assert (day2.exposures, day2.conversions) == (2015, 262)
    assert ExperimentResult.objects.filter(experiment=cta).count() == 8  # one cumulative row per day
    assert conn.cursors == {"experiments": {"watermark": "2026-03-03T06:00:00.000Z"}}

    # A full re-read is idempotent.
    serve_list("experiments_page1_updated.json")
    serve_results(E2, "results_pricing.json")
    conn.cursors = {}
    conn.save()
    sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert run is not None and run.rows_inserted == 0 and Experiment.objects.count() == 5

    # The overview's experiments selector lists them per product.
    shown = recent_experiments(
        Filters(product=web, team=None, start=date(2026, 1, 1), end=date(2026, 3, 31), preset="custom")
    )
    assert [e.key for e in shown] == ["checkout-cta", "pricing-annual"]


def reader(sleeps: list[float]) -> GrowthBookConnector:
    connector = GrowthBookConnector({**CONFIG, "product_map": {}}, SECRETS)
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_honours_retry_after() -> None:
    responses.get(
        f"{API}/experiments",
        status=429,
        json=load("growthbook", "error_429.json"),
        headers={"Retry-After": "21"},
    )
    responses.get(f"{API}/experiments", json=load("growthbook", "experiments_empty.json"))
    sleeps: list[float] = []
    connector = reader(sleeps)
    pages = list(connector.read("experiments", None))
    assert sleeps == [21.0] and len(pages) == 1 and pages[0].records == [] and pages[0].done


@responses.activate
def test_a_500_then_success_is_retried_with_backoff() -> None:
    responses.get(f"{API}/experiments", status=500, json=load("growthbook", "error_500.json"))
    responses.get(f"{API}/experiments", json=load("growthbook", "experiments_empty.json"))
    sleeps: list[float] = []
    assert reader(sleeps).check().message == "Connected to GrowthBook: 0 experiment(s)."
    assert sleeps == [0.5]


@responses.activate
def test_a_bad_key_is_permanent() -> None:
    responses.get(f"{API}/experiments", status=401, json=load("growthbook", "error_401.json"))
    connector = reader([])
    result = connector.check()
    assert not result.ok and "Invalid API key" in result.message and SECRETS["api_key"] not in result.message
    with pytest.raises(ConnectorError) as info:
        list(connector.read("experiments", None))
    assert info.value.permanent


def test_in_the_gallery() -> None:
    cls = REGISTRY["growthbook"]
    assert cls.family == "experiments" and "results" in cls.description
