"""The Support page's rollups give the same numbers as computing them from the raw tickets."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.http import QueryDict

from insights.feedback import support, support_rollup
from insights.feedback.selectors import parse_filters
from productops.dashboards import rollups
from productops.dashboards.models import SentimentDaily, TicketRollup
from productops.portfolio.models import Team
from productops.signals.models import SupportTicket

from .factories import make_product, make_tickets


def test_histogram_round_trip_and_percentiles_within_a_bucket() -> None:
    rng = np.random.default_rng(3)
    hours = rng.exponential(20, 5000)
    counts = np.bincount(support_rollup.buckets(hours), minlength=support_rollup.N_BUCKETS)
    assert (support_rollup.decode(support_rollup.encode(counts)) == counts).all()
    assert support_rollup.decode(support_rollup.encode(np.zeros(support_rollup.N_BUCKETS))).sum() == 0
    for q in (0.5, 0.9):
        estimate = support_rollup.percentile(counts, q)
        assert estimate is not None
        assert abs(estimate - float(np.quantile(hours, q))) / float(np.quantile(hours, q)) < 0.13
    assert support_rollup.percentile(np.zeros(support_rollup.N_BUCKETS, dtype=np.int64), 0.5) is None


@pytest.mark.django_db
def test_rollup_weekly_and_breakdowns_match_the_raw_tickets() -> None:
    product = make_product()
    other = make_product("beta")
    make_tickets(product, per_topic=20)
    for ticket in SupportTicket.objects.order_by("pk")[:25]:
        ticket.pk, ticket.product, ticket.external_id = None, other, f"o{ticket.external_id}"
        ticket.channel = "" if ticket.external_id.endswith("1") else ticket.channel
        ticket.save()
    SupportTicket.objects.filter(external_id="t3", product=product).update(tags=["export", "export", "vip"])
    SupportTicket.objects.filter(pk__in=SupportTicket.objects.values("pk")[:40]).update(sentiment=-0.5)
    team = Team.objects.create(name="Core", slug="core")
    team.products.add(product)
    rollups.refresh_all()
    for query in ("range=all", "range=all&team=core", "range=30d", "product=beta&range=all"):
        filters = parse_filters(QueryDict(query))
        raw = support.tickets_frame(filters)
        expected, got = support.weekly(raw), support_rollup.weekly(filters)
        if expected.empty:
            assert got.empty, query
            continue
        assert got["volume"].tolist() == expected["volume"].tolist(), query
        assert got["backlog"].tolist() == expected["backlog"].tolist(), query
        assert np.allclose(got["csat"], expected["csat"].astype(float), equal_nan=True), query
        assert np.allclose(got["sentiment"], expected["sentiment"].astype(float), equal_nan=True), query
        # Percentiles within one ~12 % bucket of the exact value (weeks fully inside the range).
        full = expected["week"].dt.date >= support_rollup.monday(filters.start)
        for column in ("frt_p50", "frt_p90", "res_p50", "res_p90"):
            assert np.allclose(
                got[column][full], expected[column][full].astype(float), rtol=0.13, equal_nan=True
            ), (
                query,
                column,
                got[column][full].tolist(),
                expected[column][full].tolist(),
            )
        for by in ("tag", "channel"):
            want = {r["key"]: r for r in support.breakdown(raw, by)}
            have = {r["key"]: r for r in support_rollup.breakdown(filters, by)}
            assert set(have) == set(want) - {""}, (query, by)
            for key, row in have.items():
                # A ticket listing a tag twice counts once, as the drill-down's rows do.
                volume = sum(1 for tags in raw["tags"] if key in tags) if by == "tag" else want[key]["volume"]
                still_open = raw[
                    [
                        key in (t if by == "tag" else [c])
                        for t, c in zip(raw["tags"], raw["channel"], strict=True)
                    ]
                ]
                assert row["volume"] == volume, (query, by, key)
                assert row["open"] == int(still_open["solved_at"].isna().sum()), (query, by, key)
    assert TicketRollup.objects.filter(tag="vip").exists()
    assert SentimentDaily.objects.filter(source="ticket").count() > 0


@pytest.mark.django_db
def test_incremental_refresh_replaces_only_recent_weeks() -> None:
    product = make_product()
    make_tickets(product, per_topic=10)
    rollups.refresh_all()
    filters = parse_filters(QueryDict("range=all"))
    before = support_rollup.weekly(filters)
    latest = SupportTicket.objects.order_by("-opened_at").first()
    assert latest is not None
    SupportTicket.objects.create(
        product=product, source_key="test", external_id="new", opened_at=latest.opened_at, tags=["login"]
    )
    since = (latest.opened_at - timedelta(days=2)).date()
    rollups.refresh_support([product.pk], since=since)
    after = support_rollup.weekly(filters)
    assert after["volume"].sum() == before["volume"].sum() + 1
    assert after["backlog"].iloc[-1] == before["backlog"].iloc[-1] + 1
    assert after["volume"].iloc[:-2].tolist() == before["volume"].iloc[:-2].tolist()
