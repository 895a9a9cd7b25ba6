"""Anomalies end to end on a small product: insights, drivers, incidents, triage across recomputes, UI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from insights.anomalies.services import mute, run_detection
from insights.models import Insight, InsightKind, InsightStatus
from insights.recompute import RecomputeScope, hooks, run
from insights.services import transition
from productops.dashboards import rollups
from productops.portfolio.models import Product, Team
from productops.signals.models import FeatureFlag, FlagChange, Metric, MetricPoint, SupportTicket

START = datetime(2025, 1, 6, tzinfo=UTC)
DAYS = 200
DIP = range(170, 174)
WEEK = np.array([1.0, 1.05, 1.08, 1.06, 1.0, 0.72, 0.65])


def day(i: int) -> datetime:
    return START + timedelta(days=i)


def add_points(
    metric: Metric, days: range, rng: np.random.Generator, dip: range = DIP, spike: int | None = None
) -> None:
    rows = []
    for i in days:
        android = 400 * WEEK[i % 7] * (1 + rng.normal(0, 0.03))
        ios = 600 * WEEK[i % 7] * (1 + rng.normal(0, 0.03))
        if i in dip:
            android *= 0.2
        if spike is not None and i == spike:
            ios *= 2.5
        for key, value, v in (
            ("", "", android + ios),
            ("platform", "android", android),
            ("platform", "ios", ios),
        ):
            rows.append(
                MetricPoint(metric=metric, ts=day(i), dimension_key=key, dimension_value=value, value=v)
            )
    MetricPoint.objects.bulk_create(rows)


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    product = Product.objects.create(name="Acme", slug="acme")
    team = Team.objects.create(name="Growth", slug="growth")
    team.products.add(product)
    Product.objects.create(name="Other", slug="other")
    metric = Metric.objects.create(
        product=product, name="Sign-ups", key="signups", external_id="signups", dimensions=["platform"]
    )
    add_points(metric, range(DAYS), rng)
    tickets = []
    for i in range(DAYS):
        n = rng.poisson(6)
        billing = rng.poisson(1.5) + (25 if i in (170, 171, 172) else 0)
        for j in range(n + billing):
            tags = ["billing"] if j < billing else ["login"]
            tickets.append(
                SupportTicket(
                    product=product,
                    source_key="demo",
                    external_id=f"t{i}-{j}",
                    subject="Billing export fails" if j < billing else "Cannot log in",
                    tags=tags,
                    opened_at=day(i) + timedelta(hours=9 + j % 8),
                )
            )
    SupportTicket.objects.bulk_create(tickets)
    flag = FeatureFlag.objects.create(product=product, key="new-billing", source_key="demo", external_id="f1")
    FlagChange.objects.create(
        flag=flag,
        external_id="c1",
        changed_at=day(169) + timedelta(hours=15),
        enabled=True,
        description="enabled for 100%",
    )
    rollups.refresh_all()  # what the write path does before the detector runs (derived series read them)
    return {"product": product, "team": team, "metric": metric, "rng": rng}


def anomaly(series_prefix: str) -> Insight:
    return Insight.objects.get(kind=InsightKind.ANOMALY, key__startswith=series_prefix)


def test_detection_writes_anomalies_drivers_and_an_incident(world: dict[str, Any]) -> None:
    metric = world["metric"]
    result = run_detection()
    assert result.series >= 5  # total, 2 platforms, tickets total, 2 tags

    total = anomaly(f"metric:{metric.pk}::")
    assert total.starts_at == day(170)
    assert total.ends_at is not None and total.ends_at >= day(172)
    assert total.payload["direction"] == "down"
    assert -0.6 < total.payload["size_pct"] < -0.3
    top = total.payload["drivers"][0]
    assert (top["key"], top["value"]) == ("platform", "android")
    assert top["share"] > 0.8
    assert "platform=android explains" in total.title
    assert total.product == world["product"] and total.team == world["team"]
    assert total.severity >= 3

    android = anomaly(f"metric:{metric.pk}:platform=android:")
    assert android.payload["parent"] == total.key

    billing = anomaly(f"tickets:{world['product'].pk}:tag=billing:")
    assert billing.payload["direction"] == "up"
    assert billing.starts_at == day(170)

    incident = Insight.objects.get(kind=InsightKind.INCIDENT)
    assert {"metric", "tickets", "flag"} <= set(incident.payload["signal_types"])
    labels = " ".join(e["label"] for e in incident.payload["evidence"])
    assert "new-billing" in labels and "Sign-ups" in labels and "billing" in labels
    assert incident.product == world["product"]


def test_recompute_updates_never_duplicates_and_keeps_triage(world: dict[str, Any], pm_user: Any) -> None:
    run_detection()
    before = set(Insight.objects.values_list("kind", "key"))
    total = anomaly(f"metric:{world['metric'].pk}::")
    billing = anomaly(f"tickets:{world['product'].pk}:tag=billing:")
    transition(total, "acknowledge", pm_user, comment="looking into android")
    mute(billing, pm_user, "known billing issue", until=datetime(2030, 1, 1, tzinfo=UTC), whole_metric=False)
    incident = Insight.objects.get(kind=InsightKind.INCIDENT)
    transition(incident, "resolve", pm_user, comment="rolled back")

    run_detection()
    run_detection()
    assert set(Insight.objects.values_list("kind", "key")) == before
    total.refresh_from_db()
    billing.refresh_from_db()
    incident.refresh_from_db()
    assert total.status == InsightStatus.ACKNOWLEDGED
    assert billing.status == InsightStatus.MUTED and billing.muted_until == datetime(2030, 1, 1, tzinfo=UTC)
    assert incident.status == InsightStatus.RESOLVED
    assert total.events.get().comment == "looking into android"


def test_mute_forever_for_the_metric_mutes_its_new_anomalies(world: dict[str, Any], pm_user: Any) -> None:
    metric = world["metric"]
    run_detection()
    total = anomaly(f"metric:{metric.pk}::")
    mute(total, pm_user, "seasonal campaign noise", until=None, whole_metric=True)

    add_points(metric, range(DAYS, DAYS + 30), world["rng"], dip=range(0), spike=DAYS + 20)
    run_detection()
    new = Insight.objects.get(kind=InsightKind.ANOMALY, key=f"metric:{metric.pk}::{day(DAYS + 20):%Y-%m-%d}")
    assert new.status == InsightStatus.MUTED and new.muted_until is None
    assert "Muted automatically" in new.events.get().comment
    total.refresh_from_db()
    assert total.status == InsightStatus.MUTED


def test_sensitivity_setting_is_used_and_survives_recompute(world: dict[str, Any], pm_client: Client) -> None:
    metric = world["metric"]
    run_detection()
    total = anomaly(f"metric:{metric.pk}::")
    response = pm_client.post(
        f"/insights/metrics/{metric.pk}/sensitivity/",
        {"sensitivity": "high", "next": f"/insights/{total.pk}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/insights/{total.pk}/"
    run_detection()
    metric.refresh_from_db()
    assert metric.sensitivity == "high"
    # High sensitivity flags at least what medium did on this metric.
    high = Insight.objects.filter(kind=InsightKind.ANOMALY, key__startswith=f"metric:{metric.pk}:").count()
    metric.sensitivity = "low"
    metric.save()
    Insight.objects.all().delete()
    run_detection()
    low = Insight.objects.filter(kind=InsightKind.ANOMALY, key__startswith=f"metric:{metric.pk}:").count()
    assert low <= high


def test_inbox_filters_sorting_and_empty_state(world: dict[str, Any], pm_client: Client) -> None:
    empty = pm_client.get("/insights/")
    assert empty.status_code == 200 and b"No anomalies or incidents" in empty.content
    run_detection()
    page = pm_client.get("/insights/")
    assert page.status_code == 200
    listed = list(page.context["insights"])
    assert listed, "the inbox lists the anomalies"
    assert [i.severity for i in listed] == sorted((i.severity for i in listed), reverse=True)
    assert all(not i.payload.get("parent") for i in listed), "dimension anomalies fold into their total"

    incidents = pm_client.get("/insights/?signal=incident")
    assert {i.kind for i in incidents.context["insights"]} == {InsightKind.INCIDENT}
    tickets = pm_client.get("/insights/?signal=tickets")
    assert {i.payload["signal"] for i in tickets.context["insights"]} == {"tickets"}
    assert list(pm_client.get("/insights/?team=growth").context["insights"])
    other = pm_client.get("/insights/?product=other")
    assert b"Nothing matches these filters" in other.content
    high = pm_client.get("/insights/?severity=3").context["insights"]
    assert all(i.severity >= 3 for i in high)
    assert not list(pm_client.get("/insights/?status=resolved").context["insights"])


def test_detail_page_chart_drivers_raw_rows_and_triage(world: dict[str, Any], pm_client: Client) -> None:
    run_detection()
    total = anomaly(f"metric:{world['metric'].pk}::")
    page = pm_client.get(f"/insights/{total.pk}/")
    assert page.status_code == 200
    chart = page.context["chart"]
    names = [trace["name"] for trace in chart["figure"]["data"]]
    assert {"Expected", "Actual", "Expected range", "Anomalous"} <= set(names)
    assert chart["figure"]["layout"]["shapes"][0]["x0"].startswith("2025-06-25")
    assert b"android" in page.content and b"Drivers" in page.content
    assert page.context["raw_rows"]
    # The raw rows link to the sortable rows page of this metric's total series (not the admin).
    link = page.context["rows_link"]
    assert link.startswith("/rows/metric-points/") and f"metric={world['metric'].pk}" in link
    assert "dimension_key=&" in link or link.endswith("dimension_key=")
    assert pm_client.get(link).context["page_obj"].paginator.count >= len(page.context["raw_rows"])
    actual = next(t for t in chart["figure"]["data"] if t["name"] == "Actual")
    assert actual["customdata"][0].startswith("/rows/metric-points/")
    assert any(r.kind == InsightKind.INCIDENT for r in page.context["related"])

    response = pm_client.post(
        f"/insights/{total.pk}/triage/", {"action": "resolve", "comment": "android fix shipped"}
    )
    assert response.status_code == 302
    total.refresh_from_db()
    assert total.status == InsightStatus.RESOLVED
    assert total.events.get().comment == "android fix shipped"

    incident = Insight.objects.get(kind=InsightKind.INCIDENT)
    page = pm_client.get(f"/insights/{incident.pk}/")
    assert page.status_code == 200 and b"Evidence" in page.content and b"new-billing" in page.content


def test_command_hook_and_nightly_schedule(world: dict[str, Any], capsys: Any) -> None:
    call_command("detect_anomalies", "--metric", str(world["metric"].pk))
    assert "anomalies" in capsys.readouterr().out
    assert Insight.objects.filter(kind=InsightKind.ANOMALY, key__startswith="metric:").exists()
    assert not Insight.objects.filter(key__startswith="tickets:").exists()
    with pytest.raises(CommandError, match="no metric with id"):
        call_command("detect_anomalies", "--metric", "999999")

    assert "anomalies" in hooks()
    assert "anomalies" in run(RecomputeScope(families={"tickets"}, product_ids={world["product"].pk}))
    assert Insight.objects.filter(key__startswith=f"tickets:{world['product'].pk}:").exists()

    from productops.celery import BEAT_SCHEDULE

    assert any(entry["task"] == "insights.tasks.recompute_all" for entry in BEAT_SCHEDULE.values())


def test_post_sync_recompute_writes_only_recent_events(world: dict[str, Any]) -> None:
    metric = world["metric"]
    add_points(metric, range(DAYS, DAYS + 60), world["rng"], dip=range(0))
    run(RecomputeScope(families={"metrics"}, metric_ids={metric.pk}))
    assert not Insight.objects.filter(key__startswith=f"metric:{metric.pk}::{day(170):%Y-%m-%d}").exists()
    run(RecomputeScope(families=set(), full=True))
    assert Insight.objects.filter(key=f"metric:{metric.pk}::{day(170):%Y-%m-%d}").exists()
