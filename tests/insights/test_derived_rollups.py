"""The anomaly detector's derived series (tickets, CSAT, NPS, mentions, sentiment, KB) come from daily
rollups the write path keeps current: recompute reads no raw ticket, NPS, mention or KB row for them,
and the values equal the ones computed from the raw rows."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from insights import recompute
from insights.anomalies.selectors import derived_series
from productops.signals.models import KbSearch, Mention, SupportTicket
from productops.signals.services import record_write
from tests.insights.derived_raw import derived_series_from_raw
from tests.insights.factories import END, make_nps, make_product, make_tickets

pytestmark = pytest.mark.django_db

RAW_TABLES = ("signals_supportticket", "signals_npsresponse", "signals_mention", "signals_kbsearch")
START = END - timedelta(days=140)


def _mentions_and_kb(product: Any, seed: int, prefix: str, start: datetime, days: int) -> None:
    rng = random.Random(seed)
    Mention.objects.bulk_create(
        Mention(
            product=product,
            source_key="test",
            external_id=f"{prefix}m{i}",
            platform="reddit",
            text="it works" if i % 3 else "it broke",
            posted_at=start + timedelta(days=rng.randrange(days), hours=rng.randrange(24)),
            sentiment=None if i % 5 == 0 else round(rng.uniform(-1, 1), 3),
        )
        for i in range(150)
    )
    KbSearch.objects.bulk_create(
        KbSearch(
            product=product,
            source_key="test",
            external_id=f"{prefix}k{d}:{term}",
            term=term,
            date=start.date() + timedelta(days=d),
            searches=rng.randrange(0, 40),
            no_result_searches=rng.randrange(0, 6),
        )
        for d in range(days)
        for term in ("export", "sso", "invoice")
    )


def _write(products: list[Any], since: datetime, capture: Any) -> recompute.PendingResult:
    """What every write path does after commit, then the recompute the queued task would run."""
    with capture(execute=True):
        record_write("test", {"tickets", "nps", "mentions", "kb"}, [p.pk for p in products], since)
    return recompute.run_pending()


def _compare(product_ids: list[int] | None = None) -> tuple[pd.DataFrame, int]:
    with CaptureQueriesContext(connection) as ctx:
        frame, infos = derived_series(product_ids)
    raw_reads = [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in RAW_TABLES)]
    assert raw_reads == []
    expected, expected_infos = derived_series_from_raw(product_ids)
    frame = frame[~frame["series_id"].str.startswith("theme:")]
    assert set(frame["series_id"]) == set(expected["series_id"])
    assert {k: v for k, v in infos.items() if not k.startswith("theme:")} == expected_infos
    got = frame.assign(ts=pd.to_datetime(frame["ts"])).set_index(["series_id", "ts"])["value"].sort_index()
    want = expected.assign(ts=pd.to_datetime(expected["ts"])).set_index(["series_id", "ts"])["value"]
    want = want.sort_index()
    assert list(got.index) == list(want.index)
    diff = (got - want).abs()
    assert list(diff[diff > 1e-9].index) == []
    assert got.to_numpy(dtype=float) == pytest.approx(want.to_numpy(dtype=float), rel=1e-9, abs=1e-9)
    return frame, len(ctx.captured_queries)


def test_derived_series_read_rollups_and_match_the_raw_rows(django_capture_on_commit_callbacks: Any) -> None:
    atlas, zephyr = make_product("atlas"), make_product("zephyr")
    make_tickets(atlas, per_topic=40, weeks=20, seed=3)
    SupportTicket.objects.update(external_id=Concat(Value("a"), "external_id"))
    make_tickets(zephyr, per_topic=12, weeks=20, seed=4)
    make_nps(atlas, 400, START, {10: 4, 9: 3, 8: 2, 5: 2, 2: 1}, days=140, prefix="a")
    make_nps(zephyr, 200, START, {10: 1, 7: 3, 3: 2}, days=140, prefix="z")
    _mentions_and_kb(atlas, 5, "a", START, 120)
    _mentions_and_kb(zephyr, 6, "z", START, 120)

    result = _write([atlas, zephyr], START - timedelta(days=7), django_capture_on_commit_callbacks)
    assert "page_rollups" in result.products[atlas.pk] and "anomalies" in result.products[atlas.pk]

    frame, queries = _compare()
    signals = {sid.split(":", 1)[0] for sid in frame["series_id"]}
    assert signals == {"tickets", "csat", "nps", "mentions", "sentiment", "kb_no_result"}
    assert frame["series_id"].str.contains(":tag=").any()  # atlas' tags pass the 30-ticket floor
    assert queries <= 8
    _compare([zephyr.pk])

    # A later write for one product: the write path rebuilds that product's rollups from its since-date.
    late = END + timedelta(days=3)
    make_nps(atlas, 60, late, {0: 1}, days=7, prefix="late")
    SupportTicket.objects.filter(product=atlas, opened_at__gte=END - timedelta(days=20)).update(csat_rating=1)
    Mention.objects.create(
        product=atlas, source_key="test", external_id="late-m", platform="hn", posted_at=late, sentiment=-0.9
    )
    result = _write([atlas], END - timedelta(days=21), django_capture_on_commit_callbacks)
    assert set(result.products) == {atlas.pk}
    frame, _ = _compare()
    last_nps = frame[frame["series_id"] == f"nps:{atlas.pk}:"].sort_values("ts")["value"].iloc[-1]
    assert last_nps == pytest.approx(-100.0)


def test_the_anomaly_recompute_reads_no_raw_feedback_rows(django_capture_on_commit_callbacks: Any) -> None:
    atlas = make_product("atlas")
    make_tickets(atlas, per_topic=35, weeks=12, seed=8)
    make_nps(atlas, 120, START, {10: 2, 4: 1}, days=90)
    _mentions_and_kb(atlas, 9, "a", START, 90)
    _write([atlas], START - timedelta(days=7), django_capture_on_commit_callbacks)

    anomalies = recompute.hooks()["anomalies"][1]
    with CaptureQueriesContext(connection) as ctx:
        anomalies(
            recompute.RecomputeScope(families={"nps", "mentions", "kb", "tickets"}, product_ids={atlas.pk})
        )
    reads = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert reads, "the hook ran"
    assert [sql for sql in reads if any(f'"{t}"' in sql or f" {t} " in sql for t in RAW_TABLES)] == []
    assert date(2000, 1, 1) < END.date()
