"""The anomaly page draws the expected band stored by the detection run, not a detector run per request."""

from __future__ import annotations

from typing import Any

from django.test import Client

from insights.anomalies.services import run_detection
from insights.models import InsightBand, InsightKind
from productops.signals.models import MetricPoint

from .test_anomalies_flow import anomaly, world  # noqa: F401  (the fixture)


def test_detection_stores_each_anomalys_band_and_the_page_reads_it(
    world: dict[str, Any],  # noqa: F811
    pm_client: Client,
) -> None:
    run_detection()
    total = anomaly(f"metric:{world['metric'].pk}::")
    band = InsightBand.objects.get(insight=total)
    assert band.step_days == 1 and len(band.points) > 100
    flagged = [p for p in band.points if p[5]]
    assert flagged and all(p[1] is not None and not (p[3] <= p[1] <= p[4]) for p in flagged)
    assert InsightBand.objects.filter(insight__kind=InsightKind.ANOMALY).count() == (
        InsightBand.objects.count()
    )
    page_before = pm_client.get(f"/insights/{total.pk}/").context["chart"]["figure"]["data"]

    # The raw series is gone (e.g. a connection deleted with its data): the chart is still the stored one,
    # so the page read the band, not the points.
    MetricPoint.objects.filter(metric=world["metric"]).delete()
    page = pm_client.get(f"/insights/{total.pk}/")
    assert page.status_code == 200
    data = page.context["chart"]["figure"]["data"]
    assert data == page_before
    actual = next(t for t in data if t["name"] == "Actual")
    assert actual["y"] == [p[1] for p in band.points]

    # A rerun refreshes the band in place (one per anomaly, never duplicated).
    run_detection()
    assert InsightBand.objects.filter(insight=total).count() == 1
