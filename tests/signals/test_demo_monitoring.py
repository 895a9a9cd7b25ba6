"""The demo's monitoring signals: a Sentry release, its error spike and a PagerDuty page in the Pulse incident."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.test import Client

from insights.anomalies.services import run_detection
from insights.models import Insight, InsightKind
from productops.dashboards import rollups
from productops.dashboards.rollups import refresh_all
from productops.portfolio.models import Product
from productops.signals.demo import seed, seed_with_stats
from productops.signals.models import ErrorIssue, MetricPoint, OpsIncident, Release


def _errors(metric_key: str) -> dict[dt.date, float]:
    rows = MetricPoint.objects.filter(metric__key=metric_key).values_list("ts", "value")
    return {ts.date(): value for ts, value in rows}


@pytest.mark.django_db
def test_release_error_spike_and_page_are_planted_deterministically() -> None:
    truth, stats = seed_with_stats(seed=7, only={"monitoring"})
    planted = truth["monitoring"]
    assert planted["release"] == "pulse@5.4.0" and planted["spike_start"] == "2026-09-06"

    release = Release.objects.get(source_key="demo", version=planted["release"])
    assert release.product.slug == "pulse" and release.crash_free_sessions == 0.962
    assert release.released_at == dt.datetime(2026, 9, 5, 17, 20, tzinfo=dt.UTC)
    assert Release.objects.filter(source_key="demo").count() >= 30  # one every two weeks

    # The errors spike from the day after the release, against the same weekdays of the four weeks before.
    series = _errors(planted["metric"])
    start, end = dt.date.fromisoformat(planted["spike_start"]), dt.date.fromisoformat(planted["spike_end"])
    window = [series[start + dt.timedelta(days=n)] for n in range((end - start).days + 1)]
    before = [series[d - dt.timedelta(weeks=w)] for d in (start, end) for w in range(1, 5)]
    assert window[0] / np.mean(before) > 5 and window[-1] / np.mean(before) > 1.5
    listed = [a for a in truth["anomalies"] if a["metric"] == planted["metric"]]
    assert len(listed) == 1 and listed[0]["kind"] == "spike" and listed[0]["z"] >= 6

    issue = ErrorIssue.objects.get(short_id=planted["issue"])
    assert issue.release == planted["release"] and issue.first_seen.date() == dt.date(2026, 9, 5)
    page = OpsIncident.objects.get(source_key="demo", number=planted["pagerduty_incident"])
    assert (page.urgency, page.product.slug, page.opened_at.date()) == ("high", "pulse", start)

    # A second run changes nothing; the same seed gives the same rows.
    again, second = seed_with_stats(seed=7, only={"monitoring"})
    assert again == truth
    assert all(result.inserted == result.updated == 0 for result in second.values())
    assert {table: r.total for table, r in stats.items()} == {table: r.total for table, r in second.items()}


@pytest.mark.django_db(transaction=False)
def test_the_pulse_incident_joins_the_release_error_spike_and_page(pm_client: Client) -> None:
    truth = seed()
    rollups.refresh_all()  # seed_demo's record_write refreshes them before the detector runs
    run_detection()
    planted = truth["monitoring"]
    pulse = Product.objects.get(slug="pulse")
    incident = Insight.objects.get(
        kind=InsightKind.INCIDENT,
        product=pulse,
        starts_at__date__lte=truth["incident"]["end"],
        ends_at__date__gte=truth["incident"]["start"],
    )
    evidence = incident.payload["evidence"]
    labels = [e["label"] for e in evidence]
    assert any(e["type"] == "anomaly" and e["label"] == "Error events · pulse-app" for e in evidence), labels
    assert "Released: pulse@5.4.0 (pulse-app · production)" in labels
    assert any(e["type"] == "incident" and "#412" in e["label"] for e in evidence), labels
    assert truth["incident"]["flag"] in " ".join(labels)  # the story the demo already told
    assert "incident" in incident.payload["signal_types"]
    assert "On-call incident" in incident.title
    assert planted["spike_start"] == truth["incident"]["start"]

    # The product page shows the page, the new error and the release in that window.
    refresh_all()  # the rollups the KPI tiles read, as the post-sync and nightly recompute build them
    html = pm_client.get("/products/pulse/?start=2026-09-01&end=2026-09-10").content.decode()
    operations = html.split("<h2>Operations</h2>", 1)[1].split("</section>", 1)[0]
    assert "#412 Pulse messaging: send failures above 5%" in operations
    assert "MessageSendError: sync queue rejected payload" in operations
    assert "pulse@5.4.0" in operations and "96.20%" in operations
