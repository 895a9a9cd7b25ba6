"""Statsig connector: experiments by page, Pulse results per test group, verdicts computed on them."""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from django.core.management.base import CommandError
from responses import matchers

from connectors.base import REGISTRY
from connectors.http import RetryPolicy
from connectors.sources.statsig import StatsigConnector
from insights.feedback.experiments import WINNER, build_reports
from productops.signals.models import Experiment, ExperimentResult, Variant

from .signal_helpers import connection, load, product, query, sync

API = "https://statsigapi.net/console/v1"
KEY = "console-9Xq2LmT7vB4nR8sW1yZ3aC6dF0gH5jK"
CONFIG = {"page_size": 2, "team_product_map": {"Growth": "pulse"}}
SECRETS = {"api_key": KEY}
AUTH = matchers.header_matcher({"STATSIG-API-KEY": KEY, "STATSIG-API-VERSION": "20240601"})
CHECKOUT_CONTROL, CHECKOUT_TEST = "4HbgLdfqlIeN3sHkyMG1qC", "5JtvTq0Lr3oPbyCkAqNn2d"
ONBOARDING = ("1aQz8sXq2CqRkS1sHbN0e4", "7nVb9WcS2dJzHq4mK8pLr1", "2pXc7VdT3eKaIr5nL9qMs2")


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["statsigapi.net"] = ["34.128.128.0"]
    return fake_dns


def serve_list() -> None:
    for name, page in (("experiments_page1.json", "1"), ("experiments_page2.json", "2")):
        responses.get(
            f"{API}/experiments",
            json=load("statsig", name),
            match=[matchers.query_param_matcher({"page": page, "limit": "2"}), AUTH],
        )


def serve_pulse(experiment: str, control: str, test: str, name: str, status: int = 200) -> None:
    responses.get(
        f"{API}/experiments/{experiment}/pulse_results",
        json=load("statsig", name),
        status=status,
        match=[matchers.query_param_matcher({"control": control, "test": test}), AUTH],
    )


def pulse_calls(since: int = 0) -> list[tuple[str, str]]:
    return [
        (str(c.request.url).split("/")[-2], query(c)["test"])
        for c in responses.calls[since:]
        if "/pulse_results" in str(c.request.url)
    ]


@pytest.mark.django_db
@responses.activate
def test_experiments_and_pulse_results_get_a_verdict_through_sync_connection() -> None:
    pulse = product("pulse")
    conn = connection("statsig", CONFIG, SECRETS)
    serve_list()
    serve_pulse("checkout_cta_copy", CHECKOUT_CONTROL, CHECKOUT_TEST, "pulse_checkout_day1.json")
    serve_pulse("onboarding_checklist", ONBOARDING[0], ONBOARDING[1], "pulse_onboarding_a.json")
    serve_pulse("onboarding_checklist", ONBOARDING[0], ONBOARDING[2], "pulse_onboarding_b.json")

    sync(conn)

    # One Pulse call per test group against the control; none for the draft (in setup).
    assert pulse_calls() == [
        ("checkout_cta_copy", CHECKOUT_TEST),
        ("onboarding_checklist", ONBOARDING[1]),
        ("onboarding_checklist", ONBOARDING[2]),
    ]
    exps = {e.key: e for e in Experiment.objects.filter(source_key=conn.source_key)}
    assert sorted(exps) == ["checkout_cta_copy", "onboarding_checklist", "pricing_page_v2"]
    cta = exps["checkout_cta_copy"]
    assert (cta.status, cta.product_id, cta.primary_metric, cta.hypothesis) == (
        "running",
        pulse.pk,
        "purchase::event_count",
        "Clearer CTA copy lifts purchases",
    )
    assert cta.started_at == datetime(2026, 3, 1, tzinfo=UTC) and cta.ended_at is None
    assert cta.traffic_split == {"Control": 0.5, "Test": 0.5}
    onboarding = exps["onboarding_checklist"]
    assert onboarding.status == "finished" and onboarding.ended_at == datetime(2026, 2, 15, tzinfo=UTC)
    assert onboarding.product_id is None  # no team: the connection's product (none here)
    assert exps["pricing_page_v2"].status == "draft"
    assert [(v.key, v.is_control) for v in Variant.objects.filter(experiment=onboarding).order_by("key")] == [
        ("Control", True),
        ("Variant A", False),
        ("Variant B", False),
    ]

    # A day of Pulse is too little for a verdict; daily syncs build the cumulative history.
    assert build_reports([cta])[0].verdict == "not enough data"
    assert conn.cursors == {"experiments": {"watermark": 1773302400000}}
    for day in ("pulse_checkout_day2.json", "pulse_checkout_test.json"):
        before = len(responses.calls)
        serve_list()
        serve_pulse("checkout_cta_copy", CHECKOUT_CONTROL, CHECKOUT_TEST, day)
        sync(conn)
        # Only the running experiment's Pulse is re-read (the decided one has not changed).
        assert pulse_calls(before) == [("checkout_cta_copy", CHECKOUT_TEST)]

    rows = {
        (r.variant.key, r.metric_key): r
        for r in ExperimentResult.objects.filter(experiment=cta, date=date(2026, 3, 12)).select_related(
            "variant"
        )
    }
    assert sorted(rows) == [
        ("Control", "purchase::event_count"),
        ("Control", "session_duration::event_dau"),
        ("Test", "purchase::event_count"),
        ("Test", "session_duration::event_dau"),
    ]
    test = rows[("Test", "purchase::event_count")]
    assert (test.kind, test.date, test.exposures) == ("continuous", date(2026, 3, 12), 2015)
    assert test.value_sum == pytest.approx(0.131 * 2015)
    sd = 0.0075178 * math.sqrt(2015)  # Statsig's std is the standard error of the mean
    assert test.value_sum_squares == pytest.approx(2014 * sd * sd + 2015 * 0.131**2)
    # The control's rows are shared by both onboarding comparisons: one per (group, metric, day).
    assert ExperimentResult.objects.filter(experiment=onboarding).count() == 3

    # The verdict engine reads them like any other source's results.
    report = build_reports([cta])[0]
    primary = report.primary
    assert primary is not None and primary.metric_key == "purchase::event_count"
    assert report.verdict == WINNER and primary.n_treatment == 2015
    assert primary.treatment_mean == pytest.approx(0.131) and primary.control_mean == pytest.approx(0.1)
    assert ExperimentResult.objects.filter(experiment=cta).count() == 12  # 4 per Pulse day

    # The same day again changes nothing.
    before = len(responses.calls)
    serve_list()
    serve_pulse("checkout_cta_copy", CHECKOUT_CONTROL, CHECKOUT_TEST, "pulse_checkout_test.json")
    sync(conn)
    assert pulse_calls(before) == [("checkout_cta_copy", CHECKOUT_TEST)]
    run = conn.runs.order_by("-pk").first()
    assert run is not None and run.rows_inserted == 0 and run.rows_updated == 0


@responses.activate
def test_no_pulse_yet_keeps_the_experiment() -> None:
    responses.get(f"{API}/experiments", json=load("statsig", "experiments_page2.json"))
    experiments = load("statsig", "experiments_page1.json")
    experiments["data"] = experiments["data"][:1]
    experiments["pagination"]["nextPage"] = None
    responses.replace(responses.GET, f"{API}/experiments", json=experiments)
    serve_pulse("checkout_cta_copy", CHECKOUT_CONTROL, CHECKOUT_TEST, "error_400_no_pulse.json", status=400)
    pages = list(StatsigConnector({**CONFIG, "team_product_map": {}}, SECRETS).read("experiments", None))
    record = pages[0].records[0]
    assert record.values["key"] == "checkout_cta_copy"
    assert [label for label, _, _ in record.children] == ["signals.Variant"]


@responses.activate
def test_429_backs_off_with_jitter() -> None:
    responses.get(f"{API}/experiments", status=429, json=load("statsig", "error_429.json"))
    responses.get(f"{API}/experiments", json=load("statsig", "experiments_page2.json"))
    connector = StatsigConnector(CONFIG, SECRETS)
    sleeps: list[float] = []
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    result = connector.check()
    assert result.ok and result.message == "Connected to Statsig: 3 experiment(s)." and sleeps == [0.5]


@pytest.mark.django_db
@responses.activate
def test_a_bad_key_pauses_the_connection() -> None:
    responses.get(f"{API}/experiments", status=401, json=load("statsig", "error_401.json"))
    conn = connection("statsig", CONFIG, SECRETS)
    with pytest.raises(CommandError):
        sync(conn)
    conn.refresh_from_db()
    assert not conn.enabled and "Invalid API key" in conn.paused_reason and KEY not in conn.paused_reason


def test_in_the_gallery_with_vendor_docs() -> None:
    cls = REGISTRY["statsig"]
    assert cls.family == "experiments"
    doc = sys.modules[cls.__module__].__doc__ or ""
    assert "https://docs.statsig.com/api-reference/experiments/retrieve-pulse-results-beta" in doc
