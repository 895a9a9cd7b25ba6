"""The upsert service: exact insert/update/unchanged counts, the same on SQLite and PostgreSQL, and the
natural key held under concurrent writers (PostgreSQL)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections

from productops.portfolio.models import Product
from productops.signals.ingest import UpsertResult, upsert, upsert_portable, upsert_postgres
from productops.signals.models import Metric, MetricPoint, NpsResponse, SupportTicket

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="exercises the PostgreSQL COPY + merge path; set DATABASE_URL to postgres:// (CI does)",
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _ticket(n: int, **over: Any) -> dict[str, Any]:
    row = {
        "source_key": "manual",
        "external_id": f"T-{n}",
        "subject": f"Subject {n}",
        "status": "open",
        "tags": ["billing", "export"],
        "opened_at": T0 + timedelta(hours=n),
        "csat_rating": None,
    }
    row.update(over)
    return row


@pytest.fixture
def metric(db: Any) -> Metric:
    product = Product.objects.create(name="Atlas", slug="atlas")
    return Metric.objects.create(product=product, name="DAU", key="dau", external_id="dau")


@pytest.mark.django_db
def test_insert_then_unchanged_then_update_counts() -> None:
    assert upsert(SupportTicket, [_ticket(n) for n in range(5)]) == UpsertResult(5, 0, 0)
    assert upsert(SupportTicket, [_ticket(n) for n in range(5)]) == UpsertResult(0, 0, 5)
    rows = [_ticket(n) for n in range(5)]
    rows[1]["subject"] = "Changed"
    rows[2]["tags"] = ["billing"]
    rows[3]["csat_rating"] = 4  # NULL -> 4 is a change
    rows.append(_ticket(9))
    assert upsert(SupportTicket, rows) == UpsertResult(inserted=1, updated=3, unchanged=2)
    assert SupportTicket.objects.count() == 6
    assert SupportTicket.objects.get(external_id="T-2").tags == ["billing"]
    assert SupportTicket.objects.get(external_id="T-3").csat_rating == 4


@pytest.mark.django_db
def test_null_to_null_is_unchanged_and_value_to_null_is_a_change() -> None:
    upsert(SupportTicket, [_ticket(1, csat_rating=None), _ticket(2, csat_rating=5)])
    result = upsert(SupportTicket, [_ticket(1, csat_rating=None), _ticket(2, csat_rating=None)])
    assert result == UpsertResult(inserted=0, updated=1, unchanged=1)
    assert SupportTicket.objects.get(external_id="T-2").csat_rating is None


@pytest.mark.django_db
def test_json_compares_by_value_not_text() -> None:
    base = {"source_key": "manual", "score": 9, "submitted_at": T0, "comment": "ok"}
    upsert(NpsResponse, [{**base, "external_id": "n1", "segment": {"plan": "pro", "country": "DE"}}])
    same = upsert(NpsResponse, [{**base, "external_id": "n1", "segment": {"country": "DE", "plan": "pro"}}])
    assert same == UpsertResult(0, 0, 1)
    changed = upsert(
        NpsResponse, [{**base, "external_id": "n1", "segment": {"country": "FR", "plan": "pro"}}]
    )
    assert changed == UpsertResult(0, 1, 0)


@pytest.mark.django_db
def test_first_seen_on_insert_only_and_last_seen_on_change_only() -> None:
    upsert(SupportTicket, [_ticket(1), _ticket(2)])
    before = {t.external_id: t for t in SupportTicket.objects.all()}
    upsert(SupportTicket, [_ticket(1, subject="New subject"), _ticket(2)])
    after = {t.external_id: t for t in SupportTicket.objects.all()}
    assert after["T-1"].first_seen_at == before["T-1"].first_seen_at
    assert after["T-1"].last_seen_at > before["T-1"].last_seen_at
    assert after["T-2"].last_seen_at == before["T-2"].last_seen_at


@pytest.mark.django_db
def test_duplicates_within_a_batch_count_once_and_the_last_wins() -> None:
    rows = [_ticket(1, subject="first"), _ticket(2), _ticket(1, subject="last")]
    assert upsert(SupportTicket, rows) == UpsertResult(inserted=2, updated=0, unchanged=0)
    assert SupportTicket.objects.get(external_id="T-1").subject == "last"


@pytest.mark.django_db
def test_columns_left_out_get_defaults_on_insert_and_keep_stored_values_on_update() -> None:
    upsert(SupportTicket, [{"source_key": "manual", "external_id": "x", "opened_at": T0, "subject": "a"}])
    ticket = SupportTicket.objects.get(external_id="x")
    assert (ticket.body, ticket.tags, ticket.status, ticket.connection_id) == ("", [], "open", None)
    SupportTicket.objects.filter(pk=ticket.pk).update(priority="high")
    assert upsert(
        SupportTicket, [{"source_key": "manual", "external_id": "x", "opened_at": T0, "subject": "b"}]
    ) == UpsertResult(0, 1, 0)
    assert SupportTicket.objects.get(external_id="x").priority == "high"


@pytest.mark.django_db
def test_metric_points_stream_in_batches_with_repeats_across_batches(metric: Metric) -> None:
    def points(value: float) -> list[dict[str, Any]]:
        return [
            {
                "metric_id": metric.pk,
                "ts": T0 + timedelta(days=d),
                "dimension_key": "platform",
                "dimension_value": p,
                "value": value + d,
            }
            for d in range(30)
            for p in ("ios", "android")
        ]

    assert upsert(MetricPoint, points(1.5), batch_size=7) == UpsertResult(60, 0, 0)
    assert upsert(MetricPoint, points(1.5), batch_size=7) == UpsertResult(0, 0, 60)
    changed = points(1.5)[:10] + points(2.25)[10:20]
    assert upsert(MetricPoint, changed, batch_size=7) == UpsertResult(0, 10, 10)
    # A key repeated in a later batch is an update of the row written by the earlier batch.
    repeated = points(1.5)[:3] + points(3.0)[:3]
    assert upsert(MetricPoint, repeated, batch_size=3) == UpsertResult(0, 3, 3)
    assert MetricPoint.objects.count() == 60
    first = points(3.0)[0]
    stored = MetricPoint.objects.get(ts=first["ts"], dimension_value=first["dimension_value"])
    assert stored.value == first["value"]


@pytest.mark.django_db
def test_unknown_column_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="no column"):
        upsert(SupportTicket, [_ticket(1, nope=1)])


def _scenario(upsert_fn: Any, source_key: str, metric: Metric) -> list[UpsertResult]:
    tickets = [_ticket(n, source_key=source_key, csat_rating=n % 3 or None) for n in range(40)]
    changed = [dict(t) for t in tickets]
    for t in changed[::4]:
        t["tags"] = [*t["tags"], "urgent"]
    for t in changed[1::5]:
        t["csat_rating"] = None
    points = [
        {
            "metric_id": metric.pk,
            "ts": T0 + timedelta(days=d),
            "dimension_key": "",
            "dimension_value": source_key,
            "value": d * 0.1,
        }
        for d in range(25)
    ]
    points2 = [dict(p, value=0.1 * d + (1 if d % 2 else 0)) for d, p in enumerate(points)]
    return [
        upsert_fn(SupportTicket, tickets + tickets[:5], batch_size=16),
        upsert_fn(SupportTicket, tickets, batch_size=16),
        upsert_fn(SupportTicket, changed, batch_size=16),
        upsert_fn(MetricPoint, points, batch_size=10),
        upsert_fn(MetricPoint, points2, batch_size=10),
    ]


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db
def test_fast_path_and_portable_path_agree_on_counts_and_rows(metric: Metric) -> None:
    fast = _scenario(upsert_postgres, "fast", metric)
    portable = _scenario(upsert_portable, "portable", metric)
    assert fast == portable
    assert [r.total for r in fast] == [45, 40, 40, 25, 25]
    assert fast[2].updated > 0 and fast[4].updated == 12

    def stored(source_key: str) -> list[tuple[Any, ...]]:
        return list(
            SupportTicket.objects.filter(source_key=source_key)
            .order_by("external_id")
            .values_list("external_id", "subject", "tags", "csat_rating", "opened_at")
        )

    assert stored("fast") == stored("portable")


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db
def test_unchanged_rows_are_not_rewritten_on_postgres() -> None:
    upsert(SupportTicket, [_ticket(n) for n in range(50)])
    with connection.cursor() as cur:
        cur.execute("SELECT external_id, xmin::text FROM signals_supportticket ORDER BY external_id")
        before = cur.fetchall()
        upsert(SupportTicket, [_ticket(n) for n in range(50)])
        cur.execute("SELECT external_id, xmin::text FROM signals_supportticket ORDER BY external_id")
        assert cur.fetchall() == before  # same row versions: nothing was written


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_keep_the_key_unique() -> None:
    n = 3000
    writers = 2
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []
    results: list[UpsertResult] = []

    def write(seed: int) -> None:
        # Each writer sends an overlapping two-thirds of the keys, in its own random order.
        rng = random.Random(seed)
        ids = list(range(seed * n // 3, seed * n // 3 + 2 * n // 3))
        rng.shuffle(ids)
        try:
            barrier.wait(timeout=30)
            results.append(
                upsert(SupportTicket, [_ticket(i, subject=f"w{seed}") for i in ids], batch_size=500)
            )
        except BaseException as exc:  # collected and asserted in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(s,)) for s in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert SupportTicket.objects.count() == n
    assert SupportTicket.objects.values("external_id").distinct().count() == n
    total = UpsertResult()
    for r in results:
        total += r
    # Every key was inserted exactly once across both writers; the overlap was updated or unchanged.
    assert total.inserted == n
    assert total.updated + total.unchanged == 2 * (2 * n // 3) - n


@pytest.mark.django_db
def test_counts_stay_exact_when_a_call_moves_from_new_rows_to_stored_ones() -> None:
    # On PostgreSQL the merge switches strategy after a mostly-new batch; the counts must not care.
    upsert(SupportTicket, [_ticket(n) for n in range(100, 114)])
    rows = [_ticket(n) for n in range(14)]  # two batches of new rows
    rows += [_ticket(n) for n in range(100, 107)]  # a batch of unchanged rows
    rows += [_ticket(n, subject="edited") for n in range(107, 114)]  # a batch of changed rows
    assert upsert(SupportTicket, rows, batch_size=7) == UpsertResult(inserted=14, updated=7, unchanged=7)
    assert upsert(SupportTicket, rows, batch_size=7) == UpsertResult(inserted=0, updated=0, unchanged=28)
    assert SupportTicket.objects.filter(subject="edited").count() == 7


@pytest.mark.django_db
def test_a_batch_whose_sample_looks_new_but_holds_stored_rows_gets_exact_counts() -> None:
    # On PostgreSQL the probe looks at the first rows only: these 300 are new, so the batch takes the
    # unfiltered merge, which must still count the stored rows behind them exactly and insert none twice.
    upsert(SupportTicket, [_ticket(n) for n in range(1000, 1100)])
    rows = [_ticket(n) for n in range(300)]
    rows += [_ticket(n, subject="edited" if n % 2 else f"Subject {n}") for n in range(1000, 1100)]
    assert upsert(SupportTicket, rows) == UpsertResult(inserted=300, updated=50, unchanged=50)
    assert SupportTicket.objects.count() == 400
    assert SupportTicket.objects.filter(subject="edited").count() == 50
    assert upsert(SupportTicket, rows) == UpsertResult(inserted=0, updated=0, unchanged=400)


@pytest.mark.django_db
def test_values_of_a_neighbouring_type_are_stored_as_the_column_type(metric: Metric) -> None:
    # An int for a text column and a string for a float column: accepted on every backend (PostgreSQL
    # parses them as it would in an INSERT), here in a later batch of a call that began with exact types.
    points = [
        {"metric_id": metric.pk, "ts": T0 + timedelta(days=d), "dimension_key": "", "dimension_value": "",
         "value": d / 4}
        for d in range(6)
    ]  # fmt: skip
    assert upsert(MetricPoint, points[:4]) == UpsertResult(4, 0, 0)
    as_text = [*points[:4], {**points[4], "value": "1.0"}, {**points[5], "value": "9.5"}]
    assert upsert(MetricPoint, as_text, batch_size=4) == UpsertResult(inserted=2, updated=0, unchanged=4)
    assert MetricPoint.objects.get(ts=T0 + timedelta(days=5)).value == 9.5
    assert upsert(MetricPoint, points) == UpsertResult(inserted=0, updated=1, unchanged=5)
    assert MetricPoint.objects.get(ts=T0 + timedelta(days=5)).value == 1.25
    tickets = [_ticket(n) for n in range(4)] + [_ticket(0, external_id=4), _ticket(0, external_id=5)]
    assert upsert(SupportTicket, tickets, batch_size=3) == UpsertResult(6, 0, 0)
    assert upsert(SupportTicket, [_ticket(0, external_id="5")]) == UpsertResult(0, 0, 1)
    assert SupportTicket.objects.filter(external_id__in=["4", "5"]).count() == 2


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db
def test_an_out_of_range_small_integer_is_refused_not_wrapped() -> None:
    # Binary COPY would write 70000 into a smallint as 4464; the stage widens it so PostgreSQL refuses.
    with pytest.raises(Exception, match="out of range"):
        upsert(SupportTicket, [_ticket(1, csat_rating=70000)])
    assert not SupportTicket.objects.exists()


@pytest.mark.django_db
def test_a_row_source_that_fails_keeps_the_batches_before_it() -> None:
    # A failure reading a later batch must not take the written batch down with it (each batch is its
    # own transaction).
    def rows() -> Any:
        yield from (_ticket(n) for n in range(10))
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        upsert(SupportTicket, rows(), batch_size=10)
    assert SupportTicket.objects.count() == 10


@pytest.mark.django_db
def test_a_row_source_may_query_the_database_while_a_batch_is_written() -> None:
    seen: list[int] = []

    def rows() -> Any:
        for n in range(40):
            if n % 7 == 0:
                seen.append(SupportTicket.objects.count())
            yield _ticket(n)

    assert upsert(SupportTicket, rows(), batch_size=10) == UpsertResult(40, 0, 0)
    assert seen[0] == 0 and seen[-1] >= 30  # it saw the batches written before it
    assert upsert(SupportTicket, rows(), batch_size=10) == UpsertResult(0, 0, 40)
