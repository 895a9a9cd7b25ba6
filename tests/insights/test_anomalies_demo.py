"""The detector against the demo dataset's planted ground truth (productops.signals.demo)."""

from __future__ import annotations

from typing import Any

import pytest

from insights.anomalies.services import run_detection
from insights.models import Insight, InsightKind
from productops.dashboards import rollups
from productops.portfolio.models import Product
from productops.signals.demo import seed
from tests.insights.anomaly_scoring import score_metric_anomalies


@pytest.mark.django_db(transaction=False)
def test_demo_ground_truth_precision_recall_false_alarms_and_incident(capsys: Any) -> None:
    truth = seed()
    rollups.refresh_all()  # seed_demo's record_write refreshes them before the detector runs
    result = run_detection()
    assert result.series > 100

    score = score_metric_anomalies(truth)
    with capsys.disabled():
        print(
            f"\nanomalies demo: planted={score.planted} recall={score.recall:.3f} "
            f"detected={score.detected} precision={score.precision:.3f} "
            f"clean_false_alarms={score.clean_false_alarms} "
            f"per_series_year={score.false_alarms_per_series_year:.3f}"
        )
    assert score.planted >= 10
    assert score.recall >= 0.8, f"missed: {score.missed}"
    assert score.precision >= 0.8, f"false positives: {score.false}"
    assert score.false_alarms_per_series_year <= 1.0

    # Drivers: the android-driven sign-up dip names android as the main driver on the total.
    driven = [a for a in truth["anomalies"] if a["driver"] and not a["dimension_key"]]
    assert driven
    named = 0
    for entry in driven:
        product = Product.objects.get(slug=entry["product"])
        totals = Insight.objects.filter(
            kind=InsightKind.ANOMALY,
            product=product,
            payload__dimension_key="",
            payload__metric_id__isnull=False,
            starts_at__date__gte=entry["start"],
            starts_at__date__lte=entry["end"],
        )
        for insight in totals:
            drivers = insight.payload.get("drivers") or []
            if (
                drivers
                and drivers[0]["notable"]
                and (drivers[0]["key"], drivers[0]["value"])
                == (
                    entry["driver"]["key"],
                    entry["driver"]["value"],
                )
            ):
                named += 1
                break
    assert named >= 0.8 * len(driven), f"driver named for {named} of {len(driven)} driven anomalies"

    # The planted incident: a metric dip, a ticket-tag spike and a flag change, joined into one card.
    planted = truth["incident"]
    product = Product.objects.get(slug=planted["product"])
    incidents = Insight.objects.filter(
        kind=InsightKind.INCIDENT,
        product=product,
        starts_at__date__lte=planted["end"],
        ends_at__date__gte=planted["start"],
    )
    assert incidents.count() == 1
    incident = incidents.get()
    assert {"metric", "tickets", "flag"} <= set(incident.payload["signal_types"])
    labels = " ".join(e["label"] for e in incident.payload["evidence"])
    assert planted["flag"] in labels and planted["ticket_tag"] in labels

    # One story, bounded: every incident spans at most 14 days, shows at most a handful of changes (all
    # from shortly before its onset), and never joins two unrelated planted events.
    from datetime import date, timedelta

    from insights.anomalies.evidence import MAX_SHOWN

    assert incident.ends_at - incident.starts_at <= timedelta(days=14)
    assert incident.starts_at.date() <= date.fromisoformat(planted["start"]) + timedelta(days=1)
    plants: dict[str, list[dict[str, object]]] = {}
    for entry in truth["anomalies"]:
        if not entry["dimension_key"]:
            plants.setdefault(entry["product"], []).append(entry)
    all_incidents = list(Insight.objects.filter(kind=InsightKind.INCIDENT).select_related("product"))
    assert all_incidents
    for found in all_incidents:
        span = found.ends_at - found.starts_at
        assert span <= timedelta(days=14), (found.title, found.starts_at, found.ends_at)
        changes = [e for e in found.payload["evidence"] if e["type"] != "anomaly"]
        assert len(changes) <= MAX_SHOWN, found.payload["evidence"]
        for change in changes:
            at = date.fromisoformat(change["at"][:10])
            assert (
                found.starts_at.date() - timedelta(days=2) <= at <= found.starts_at.date() + timedelta(days=1)
            )
        touched = {
            entry["start"]
            for entry in plants.get(found.product.slug, [])
            if date.fromisoformat(entry["start"]) <= found.ends_at.date()
            and date.fromisoformat(entry["end"]) >= found.starts_at.date()
            and entry["kind"] in ("spike", "dip")
        }
        assert len(touched) <= 1, (found.title, found.starts_at, found.ends_at, touched)
    # The planted story's onset lies months after Pulse's App Store spike: never one incident.
    pulse = [i for i in all_incidents if i.product.slug == planted["product"]]
    spike = next(e for e in plants["pulse"] if e["kind"] == "spike")
    assert not any(
        i.starts_at.date() <= date.fromisoformat(spike["end"])
        and i.ends_at.date() >= date.fromisoformat(planted["start"])
        for i in pulse
    )
