"""NPS per period with shift insights, and support analytics with business hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.http import QueryDict
from django.test import override_settings

from insights.feedback import nps, support
from insights.feedback.selectors import parse_filters as parse_feedback_filters
from insights.models import Insight
from productops.signals.models import SupportTicket

from .factories import make_nps, make_product, make_tickets


@pytest.mark.django_db
def test_nps_shift_becomes_an_insight_and_a_stable_month_does_not() -> None:
    product = make_product()
    good = {10: 0.5, 9: 0.1, 8: 0.2, 7: 0.1, 3: 0.1}  # NPS ~ +50
    bad = {10: 0.25, 9: 0.1, 8: 0.2, 7: 0.1, 3: 0.35}  # NPS ~ 0
    make_nps(product, 300, datetime(2026, 7, 1, tzinfo=UTC), good, seed=1, prefix="a")
    make_nps(product, 300, datetime(2026, 8, 1, tzinfo=UTC), good, seed=2, prefix="b")
    make_nps(product, 300, datetime(2026, 9, 1, tzinfo=UTC), bad, seed=3, prefix="c")
    keys = nps.recompute_nps_insights()
    assert keys == [f"nps:{product.pk}:2026-09"]
    insight = Insight.objects.get(kind="nps_shift")
    assert "dropped" in insight.title and insight.payload["delta"] < -30
    points = nps.trend(nps.responses_frame())
    assert [p["label"] for p in points] == ["2026-07", "2026-08", "2026-09"]
    assert all(p["result"].enough for p in points)
    segments = {(s["key"], s["value"]) for s in nps.segment_breakdown(nps.responses_frame())}
    assert segments == {("plan", "free"), ("plan", "pro")}


@pytest.mark.django_db
def test_nps_filters_by_segment() -> None:
    product = make_product()
    make_nps(product, 40, datetime(2026, 7, 1, tzinfo=UTC), {10: 1.0}, segment={"plan": "pro"}, prefix="p")
    make_nps(product, 40, datetime(2026, 7, 1, tzinfo=UTC), {2: 1.0}, segment={"plan": "free"}, prefix="f")
    frame = nps.responses_frame(parse_feedback_filters(QueryDict("segment=plan:pro")))
    assert len(frame) == 40 and frame["score"].eq(10).all()


def test_business_clock_counts_only_office_hours() -> None:
    config = {"start": 9, "end": 17, "weekmask": "1111100", "tz": "UTC"}
    # Friday 16:00 -> Monday 10:00 is 1 h on Friday + 1 h on Monday = 2 business hours.
    start = pd.Series([datetime(2026, 11, 6, 16, tzinfo=UTC), datetime(2026, 11, 3, 8, tzinfo=UTC)])
    end = pd.Series([datetime(2026, 11, 9, 10, tzinfo=UTC), datetime(2026, 11, 3, 20, tzinfo=UTC)])
    hours = support.elapsed_hours(start, end, config)
    assert hours.tolist() == [2.0, 8.0]
    calendar = support.elapsed_hours(start, end, None)
    assert calendar.tolist() == [66.0, 12.0]
    assert np.isnan(support.elapsed_hours(start, pd.Series([pd.NaT, pd.NaT]), config)).all()


@pytest.mark.django_db
def test_weekly_support_metrics_and_series_frame() -> None:
    product = make_product()
    make_tickets(product, per_topic=20)
    frame = support.tickets_frame()
    weekly = support.weekly(frame)
    assert weekly["volume"].sum() == SupportTicket.objects.count()
    # Backlog at the end equals the tickets never solved.
    assert weekly["backlog"].iloc[-1] == SupportTicket.objects.filter(solved_at__isnull=True).count()
    assert (weekly["frt_p90"].dropna() >= weekly["frt_p50"].dropna()).all()
    by_tag = {r["key"]: r for r in support.breakdown(frame, "tag")}
    assert set(by_tag) == {"export", "login", "darkmode"} and by_tag["export"]["volume"] == 20
    series = support.support_series_frame()
    assert list(series.columns) == ["series_id", "ts", "value"]
    ids = set(series["series_id"])
    assert {
        "support:acme:volume",
        "support:acme:backlog",
        "support:acme:frt_p50_h",
        "support:acme:tag:export:volume",
    } <= ids
    tag = series[series["series_id"] == "support:acme:tag:export:volume"]
    assert tag["value"].sum() == 20


@pytest.mark.django_db
def test_business_hours_setting_applies_per_product() -> None:
    product = make_product()
    opened = datetime(2026, 11, 7, 12, tzinfo=UTC)  # a Saturday
    SupportTicket.objects.create(
        product=product,
        source_key="t",
        external_id="1",
        opened_at=opened,
        first_response_at=opened + timedelta(days=2),
    )  # Monday 12:00
    with override_settings(SUPPORT_BUSINESS_HOURS={"acme": {"start": 9, "end": 17, "tz": "UTC"}}):
        assert support.tickets_frame()["frt_h"].tolist() == [3.0]
    assert support.tickets_frame()["frt_h"].tolist() == [48.0]
