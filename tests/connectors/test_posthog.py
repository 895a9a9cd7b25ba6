"""PostHog connector: trends through the query API, experiments and feature flags with their activity log."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
import time_machine
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.sources.posthog import PostHogConnector
from insights.feedback.experiments import build_reports
from productops.dashboards.rollups import refresh_all
from productops.dashboards.selectors import daily_frame, recent_experiments
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import (
    Experiment,
    ExperimentResult,
    FeatureFlag,
    FlagChange,
    Metric,
    MetricPoint,
    Variant,
)

from .signal_helpers import connection, load, product, query, sync, window

H = "https://eu.posthog.com/api/projects/4211"
KEY = "phx_0123456789abcdefghij"
CONFIG = {
    "host": "https://eu.posthog.com",
    "project_id": 4211,
    "events": "$pageview, signed_up",
    "breakdown": "$browser",
    "project_product": "web-app",
    "start_date": "2026-03-01",
    "lookback_days": 2,
}
BEARER = matchers.header_matcher({"Authorization": f"Bearer {KEY}"})


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["eu.posthog.com"] = ["18.197.246.42"]
    return fake_dns


def trends_query(event: str, start: str, end: str) -> dict[str, Any]:
    return {
        "query": {
            "kind": "TrendsQuery",
            "series": [{"kind": "EventsNode", "event": event, "math": "total"}],
            "interval": "day",
            "dateRange": {"date_from": start, "date_to": end},
            "breakdownFilter": {"breakdown": "$browser", "breakdown_type": "event"},
        }
    }


def serve_trends(start: str, end: str, pageview: str, signed_up: str) -> None:
    for event, name in (("$pageview", pageview), ("signed_up", signed_up)):
        responses.post(
            f"{H}/query/",
            json=load("posthog", name),
            match=[matchers.json_params_matcher(trends_query(event, start, end)), BEARER],
        )


CHECKOUT_QUERY = {
    "query": {
        "kind": "ExperimentQuery",
        "experiment_id": 11,
        "metric": {
            "kind": "ExperimentMetric",
            "metric_type": "funnel",
            "name": "checkout completed",
            "series": [],
        },
    }
}


def serve_experiment_query(name: str = "query_experiment_checkout.json", status: int = 200) -> None:
    responses.post(
        f"{H}/query/",
        json=load("posthog", name),
        status=status,
        match=[matchers.json_params_matcher(CHECKOUT_QUERY), BEARER],
    )


def serve_lists(flags: str, activity: list[str]) -> None:
    serve_experiment_query()
    responses.get(
        f"{H}/experiments/",
        json=load("posthog", "experiments_page1.json"),
        match=[matchers.query_param_matcher({"limit": "100"})],
    )
    responses.get(
        f"{H}/experiments/",
        json=load("posthog", "experiments_page2.json"),
        match=[matchers.query_param_matcher({"limit": "2", "offset": "2"})],
    )
    pages = ["1", "2", "3"]
    for n, name in enumerate(activity):
        params = {"limit": "100"} if n == 0 else {"limit": "2", "page": pages[n]}
        responses.get(
            f"{H}/feature_flags/activity",
            json=load("posthog", name),
            match=[matchers.query_param_matcher(params)],
        )
    responses.get(
        f"{H}/feature_flags/",
        json=load("posthog", flags),
        match=[matchers.query_param_matcher({"limit": "100"})],
    )


@pytest.mark.django_db
@responses.activate
def test_trends_experiments_flags_then_incremental_then_idempotent_through_sync_connection() -> None:
    web = product("web-app")
    conn = connection("posthog", CONFIG, {"api_key": KEY})
    serve_trends("2026-03-01", "2026-03-05", "query_pageview.json", "query_signed_up.json")
    serve_lists("feature_flags.json", ["activity_page1.json", "activity_page2.json"])

    with time_machine.travel(datetime(2026, 3, 6, 9, 0, tzinfo=UTC), tick=True):
        sync(conn)

    pageview = Metric.objects.get(source_key=conn.source_key, external_id="event:$pageview")
    assert (pageview.key, pageview.product_id, pageview.dimensions) == ("pageview", web.pk, ["$browser"])
    pts = {
        (p.ts.date().isoformat(), p.dimension_value): p.value
        for p in MetricPoint.objects.filter(metric=pageview)
    }
    assert pts[("2026-03-01", "")] == 425.0 and pts[("2026-03-01", "Chrome")] == 300.0
    assert pts[("2026-03-01", "(none)")] == 5.0  # PostHog's null-breakdown marker

    experiments = {e.key: e for e in Experiment.objects.filter(source_key=conn.source_key)}
    assert sorted(experiments) == ["new-checkout", "onboarding-tips", "pricing-copy"]  # over two list pages
    checkout = experiments["new-checkout"]
    assert (checkout.status, checkout.primary_metric, checkout.product_id) == (
        "running",
        "checkout completed",
        web.pk,
    )
    assert checkout.started_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC) and checkout.traffic_split == {
        "control": 0.5,
        "test": 0.5,
    }
    assert (
        experiments["pricing-copy"].status == "draft" and experiments["onboarding-tips"].status == "finished"
    )
    variants = {
        (v.key, v.is_control, v.weight)
        for v in Variant.objects.filter(experiment=experiments["pricing-copy"])
    }
    assert variants == {("control", True, 0.34), ("short", False, 0.33), ("shorter", False, 0.33)}
    # Experiment results from the query API: one cumulative row per variant and metric for the day.
    results = {
        r.variant.key: r
        for r in ExperimentResult.objects.filter(experiment=checkout).select_related("variant")
    }
    assert {k: (r.metric_key, r.kind, r.date, r.exposures, r.conversions) for k, r in results.items()} == {
        "control": ("checkout completed", "conversion", date(2026, 3, 6), 1520, 182),
        "test": ("checkout completed", "conversion", date(2026, 3, 6), 1498, 231),
    }
    report = build_reports([checkout])[0]
    assert report.primary is not None and report.primary.metric_key == "checkout completed"
    assert report.primary.treatment_mean == pytest.approx(231 / 1498)

    flags = {f.key: f for f in FeatureFlag.objects.filter(source_key=conn.source_key)}
    assert (flags["dark-mode"].enabled, flags["dark-mode"].rollout_pct) == (True, 25.0)
    assert flags["new-billing-export"].rollout_pct == 100.0  # a targeted group without a percentage
    changes = list(
        FlagChange.objects.filter(flag=flags["dark-mode"])
        .order_by("changed_at")
        .values_list("description", "enabled", "rollout_pct")
    )
    assert changes == [
        ("dark-mode: rollout 10%, turned on", True, 10.0),
        ("dark-mode: rollout 25%", None, 25.0),
    ]
    conn.refresh_from_db()
    assert conn.cursors["trends"] == {"start": "2026-03-04"}
    assert conn.cursors["flags"] == {"activity_until": "2026-03-04T15:00:00.123456+00:00"}

    # Next day: trends from the lookback day only; the activity log read back to the last change seen.
    serve_trends("2026-03-04", "2026-03-06", "query_pageview_resync.json", "query_signed_up_empty.json")
    serve_lists("feature_flags_changed.json", ["activity_new_page1.json", "activity_new_page2.json"])
    before = len(responses.calls)
    with time_machine.travel(datetime(2026, 3, 7, 9, 0, tzinfo=UTC), tick=True):
        sync(conn)
    calls = responses.calls[before:]
    posted = [json.loads(c.request.body or "{}")["query"] for c in calls if c.request.method == "POST"]
    bodies = [q["dateRange"] for q in posted if q["kind"] == "TrendsQuery"]
    assert bodies == [{"date_from": "2026-03-04", "date_to": "2026-03-06"}] * 2
    # Results again for the running experiment only; the finished one has not changed since.
    assert [q["experiment_id"] for q in posted if q["kind"] == "ExperimentQuery"] == [11]
    activity = [query(c) for c in calls if "activity" in (c.request.url or "")]
    assert activity == [
        {"limit": "100"},
        {"limit": "2", "page": "2"},
    ]  # stopped once it reached known changes
    flags = {f.key: f for f in FeatureFlag.objects.filter(source_key=conn.source_key)}
    assert (flags["dark-mode"].rollout_pct, flags["new-billing-export"].enabled) == (50.0, False)
    # 4 changes from the first sync (one is the creation) + 2 new ones; known ones were not re-read
    assert FlagChange.objects.filter(flag__source_key=conn.source_key).count() == 6
    pts = {
        (p.ts.date().isoformat(), p.dimension_value): p.value
        for p in MetricPoint.objects.filter(metric=pageview)
    }
    assert pts[("2026-03-05", "Chrome")] == 333.0 and pts[("2026-03-06", "")] == 473.0

    # Re-running the same window changes nothing.
    conn.cursors = {
        **conn.cursors,
        "trends": {"start": "2026-03-04"},
        "flags": {"activity_until": "2026-03-06T17:45:00+00:00"},
    }
    conn.save()
    serve_trends("2026-03-04", "2026-03-06", "query_pageview_resync.json", "query_signed_up_empty.json")
    serve_lists("feature_flags_changed.json", ["activity_new_page1.json"])
    with time_machine.travel(datetime(2026, 3, 7, 10, 0, tzinfo=UTC), tick=True):
        sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert run is not None and (run.rows_inserted, run.rows_updated) == (0, 0)

    # The dashboards: the metric's daily rollup, recent experiments and the flag-changes table.
    refresh_all()
    frame = daily_frame([pageview.pk], date(2026, 3, 1), date(2026, 3, 6))
    assert list(frame.sort_values("day")["value"]) == [425.0, 432.0, 421.0, 440.0, 464.0, 473.0]
    span = window(date(2026, 2, 1), date(2026, 3, 31), web)
    assert {e.key for e in recent_experiments(span)} == {"new-checkout", "onboarding-tips", "pricing-copy"}
    table = table_queryset(TABLES["flag-changes"], span, {})
    assert {row[1] for row in table} == {"dark-mode", "new-billing-export"}


def reader(sleeps: list[float], key: str = KEY) -> PostHogConnector:
    client = HttpClient(sleep=sleeps.append, rand=lambda: 0.5, retry=RetryPolicy(max_attempts=3))
    return PostHogConnector({**CONFIG, "project_product": ""}, {"api_key": key}, client=client)


@responses.activate
def test_429_honours_retry_after_and_5xx_is_retried() -> None:
    responses.get(
        f"{H}/experiments/", status=429, headers={"Retry-After": "8"}, json=load("posthog", "error_429.json")
    )
    responses.get(f"{H}/experiments/", json=load("posthog", "experiments_page1.json"))
    responses.get(f"{H}/experiments/", status=503, body="upstream connect error")
    responses.get(f"{H}/experiments/", json=load("posthog", "experiments_page2.json"))
    serve_experiment_query("query_experiment_no_exposures.json", status=400)  # no exposures yet: no rows
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("experiments", None))
    assert sleeps == [8.0, 0.5]
    assert [len(p.records) for p in pages] == [2, 1]
    assert [label for label, _, _ in pages[0].records[0].children] == ["signals.Variant"]


@responses.activate
def test_bad_key_is_permanent() -> None:
    responses.get(f"{H}/", status=401, json=load("posthog", "error_401.json"))
    responses.get(f"{H}/experiments/", status=401, json=load("posthog", "error_401.json"))
    connector = reader([], key="phx_wrong_key_123")
    result = connector.check()
    assert (
        not result.ok and "Personal API key" in result.message and "phx_wrong_key_123" not in result.message
    )
    with pytest.raises(ConnectorError) as info:
        list(connector.read("experiments", None))
    assert info.value.permanent


@responses.activate
def test_check_names_the_project() -> None:
    responses.get(f"{H}/", json=load("posthog", "project.json"))
    assert reader([]).check().message == "Connected to PostHog project “Acme Web”."


def test_in_the_gallery() -> None:
    cls = REGISTRY["posthog"]
    assert cls.family == "metrics" and "experiments" in cls.description and "flags" in cls.description
    assert cls.also_fills == ("experiments", "flags")  # so verdicts recompute after a sync
