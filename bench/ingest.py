"""Benchmark: the ingestion service against PostgreSQL's own COPY, on the same rows, in one run.

    DATABASE_URL=postgres://... python bench/ingest.py [--points 1000000] [--tickets 200000]

1. COPY the metric points and tickets into scratch tables made `LIKE` the real ones (same columns,
   same indexes), straight from the row generator: the ceiling for getting these rows in.
2. Upsert the same rows into the real tables through productops.signals.ingest.upsert (new rows).
3. Upsert the same rows again: every one is unchanged, and the row count must not move.

Rows are generated lazily (never held in a list), so peak RSS measures the service's own batches.
Prints rows/s and ratios, then the summary line:
    ingest: upsert_rows_per_s=N copy_rows_per_s=N ratio=R unchanged_ratio=U peak_rss_mb=M
Scratch data (the bench product, its metrics and rows, the scratch tables) is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

SOURCE = "bench-ingest"
PLATFORMS = ("ios", "android", "web")
COUNTRIES = ("US", "DE", "FR", "GB", "IN", "BR")
DIMENSIONS = [("", ""), *(("platform", p) for p in PLATFORMS), *(("country", c) for c in COUNTRIES)]
T0 = datetime(2023, 1, 1, tzinfo=UTC)
TICKET_COLUMNS = [
    "source_key", "external_id", "connection_id", "product_id", "subject", "body", "body_text", "status",
    "priority", "tags", "channel", "opened_at", "first_response_at", "solved_at", "csat_rating", "sentiment",
]  # fmt: skip
POINT_COLUMNS = ["metric_id", "ts", "dimension_key", "dimension_value", "value"]
TAGS = (["billing"], ["billing", "export"], ["login"], ["mobile", "crash"], [])
STATUSES = ("new", "open", "pending", "solved", "closed")


def fail(message: str) -> None:
    print(f"bench/ingest.py: {message}", file=sys.stderr)
    sys.exit(2)


def points(metric_ids: list[int], n: int) -> Iterator[dict[str, Any]]:
    per_metric_day = len(DIMENSIONS)
    days = max(1, -(-n // (len(metric_ids) * per_metric_day)))
    emitted = 0
    for m_index, metric_id in enumerate(metric_ids):
        for day in range(days):
            ts = T0 + timedelta(days=day)
            for d_index, (key, value) in enumerate(DIMENSIONS):
                if emitted == n:
                    return
                emitted += 1
                yield {
                    "metric_id": metric_id,
                    "ts": ts,
                    "dimension_key": key,
                    "dimension_value": value,
                    "value": float((m_index * 7919 + day * 31 + d_index * 17) % 1000) / 3.0,
                }


def tickets(product_id: int, n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        opened = T0 + timedelta(minutes=7 * i)
        solved = i % 3 == 0
        yield {
            "source_key": SOURCE,
            "external_id": f"T-{i}",
            "connection_id": None,
            "product_id": product_id,
            "subject": f"Export to CSV fails for workspace {i % 997}",
            "body": f"<p>Customer {i % 5003} reports the export button spins forever (case {i}).</p>",
            "body_text": f"Customer {i % 5003} reports the export button spins forever (case {i}).",
            "status": STATUSES[i % 5],
            "priority": ("low", "normal", "high")[i % 3],
            "tags": TAGS[i % len(TAGS)],
            "channel": ("email", "web", "chat")[i % 3],
            "opened_at": opened,
            "first_response_at": opened + timedelta(minutes=30 + i % 600),
            "solved_at": opened + timedelta(hours=5 + i % 48) if solved else None,
            "csat_rating": (i % 5) + 1 if solved else None,
            "sentiment": None,
        }


def copy_rows(table: str, columns: list[str], rows: Iterator[dict[str, Any]], json_cols: set[str]) -> int:
    """COPY rows into a table as one stream: PostgreSQL's own bulk path, the ceiling to compare with."""
    import json

    from django.db import connection, transaction

    get = itemgetter(*columns)
    json_index = [i for i, c in enumerate(columns) if c in json_cols]
    now = datetime.now(UTC)
    extra = ["first_seen_at", "last_seen_at"] if "source_key" in columns else []
    n = 0
    with transaction.atomic(), connection.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns + extra)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                values = list(get(row))
                for i in json_index:
                    values[i] = json.dumps(values[i])
                if extra:
                    values += [now, now]
                copy.write_row(values)
                n += 1
    return n


def timed(label: str, fn: Callable[[], Any], rows: int) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"  {label:<34} {rows:>9,} rows in {seconds:7.2f} s = {rows / seconds:>10,.0f} rows/s")
    return seconds, out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--metrics", type=int, default=100)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        fail(
            "DATABASE_URL is not set. Point it at a PostgreSQL database (create it first), e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/productops_bench"
        )
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        fail(
            f"DATABASE_URL must be a PostgreSQL URL (postgres://...); this bench measures COPY. Got {url.split(':')[0]}://"
        )

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from productops.portfolio.models import Product
    from productops.signals.ingest import UpsertResult, upsert
    from productops.signals.models import Metric, MetricPoint, SupportTicket

    if connection.vendor != "postgresql":
        fail("DATABASE_URL did not give a PostgreSQL connection.")
    call_command("migrate", verbosity=0, interactive=False)

    point_table = MetricPoint._meta.db_table
    ticket_table = SupportTicket._meta.db_table
    scratch_points, scratch_tickets = "bench_copy_metricpoint", "bench_copy_supportticket"

    def cleanup() -> None:
        with connection.cursor() as cur:
            for scratch in (scratch_points, scratch_tickets):
                cur.execute(f"DROP TABLE IF EXISTS {scratch}, {scratch}_fk")
        MetricPoint.objects.filter(metric__source_key=SOURCE)._raw_delete(MetricPoint.objects.db)  # type: ignore[attr-defined]
        SupportTicket.objects.filter(source_key=SOURCE).delete()
        Metric.objects.filter(source_key=SOURCE).delete()
        Product.objects.filter(slug=SOURCE).delete()

    cleanup()
    try:
        product = Product.objects.create(name="Ingest bench", slug=SOURCE)
        metric_ids = [
            Metric.objects.create(
                product=product, source_key=SOURCE, external_id=f"m{i}", name=f"Metric {i}", key=f"m{i}"
            ).pk
            for i in range(args.metrics)
        ]
        with connection.cursor() as cur:
            # Same columns and the same indexes (primary key, unique natural key, secondary indexes).
            for scratch, table in ((scratch_points, point_table), (scratch_tickets, ticket_table)):
                cur.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
                # A second copy that also has the real table's foreign keys, whose checks every insert
                # into the real table pays (LIKE never copies foreign keys).
                cur.execute(f"CREATE TABLE {scratch}_fk (LIKE {table} INCLUDING ALL)")
                cur.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                    "AND contype = 'f'",
                    [table],
                )
                for (definition,) in cur.fetchall():
                    cur.execute(f"ALTER TABLE {scratch}_fk ADD {definition}")

        n_points, n_tickets = args.points, args.tickets
        total = n_points + n_tickets
        print(f"ingest bench: {n_points:,} metric points + {n_tickets:,} tickets on PostgreSQL")
        print("COPY into scratch tables with the same columns and indexes:")
        cp, _ = timed(
            "COPY metric points",
            lambda: copy_rows(scratch_points, POINT_COLUMNS, points(metric_ids, n_points), set()),
            n_points,
        )
        ct, _ = timed(
            "COPY tickets",
            lambda: copy_rows(scratch_tickets, TICKET_COLUMNS, tickets(product.pk, n_tickets), {"tags"}),
            n_tickets,
        )
        print("COPY into scratch tables that also have the foreign keys:")
        fp, _ = timed(
            "COPY metric points (+FK)",
            lambda: copy_rows(f"{scratch_points}_fk", POINT_COLUMNS, points(metric_ids, n_points), set()),
            n_points,
        )
        ft, _ = timed(
            "COPY tickets (+FK)",
            lambda: copy_rows(
                f"{scratch_tickets}_fk", TICKET_COLUMNS, tickets(product.pk, n_tickets), {"tags"}
            ),
            n_tickets,
        )
        print("upsert, new rows:")
        up, r1 = timed(
            "upsert metric points", lambda: upsert(MetricPoint, points(metric_ids, n_points)), n_points
        )
        ut, r2 = timed(
            "upsert tickets", lambda: upsert(SupportTicket, tickets(product.pk, n_tickets)), n_tickets
        )
        count_after_first = (
            MetricPoint.objects.filter(metric__source_key=SOURCE).count()
            + SupportTicket.objects.filter(source_key=SOURCE).count()
        )
        print("upsert again, every row unchanged:")
        vp, r3 = timed(
            "upsert metric points", lambda: upsert(MetricPoint, points(metric_ids, n_points)), n_points
        )
        vt, r4 = timed(
            "upsert tickets", lambda: upsert(SupportTicket, tickets(product.pk, n_tickets)), n_tickets
        )
        count_after_second = (
            MetricPoint.objects.filter(metric__source_key=SOURCE).count()
            + SupportTicket.objects.filter(source_key=SOURCE).count()
        )
    finally:
        cleanup()

    copy_rate = total / (cp + ct)
    upsert_rate = total / (up + ut)
    unchanged_rate = total / (vp + vt)
    ratio = upsert_rate / copy_rate
    copy_fk_rate = total / (fp + ft)
    unchanged_ratio = unchanged_rate / copy_rate
    rss = peak_rss_mb()
    for label, a, b in (("first pass: ", r1, r2), ("second pass:", r3, r4)):
        both = UpsertResult(a.inserted, a.updated, a.unchanged)
        both += b
        print(f"{label} inserted={both.inserted:,} updated={both.updated:,} unchanged={both.unchanged:,}")
    print(f"row count after first pass {count_after_first:,}, after second pass {count_after_second:,}")
    print(
        f"copy {copy_rate:,.0f} rows/s; upsert new {upsert_rate:,.0f} rows/s "
        f"(ratio {ratio:.2f}, goal >= 0.5); "
        f"upsert unchanged {unchanged_rate:,.0f} rows/s (ratio {unchanged_ratio:.2f}, goal >= 0.75)"
    )
    print(
        f"against COPY into the tables with foreign keys ({copy_fk_rate:,.0f} rows/s): "
        f"ratio {upsert_rate / copy_fk_rate:.2f}, unchanged ratio {unchanged_rate / copy_fk_rate:.2f}"
    )
    print(f"peak RSS {rss:.0f} MB (goal < 500 MB)")
    problems = []
    if count_after_first != total or count_after_second != total:
        problems.append(f"row count {count_after_first}/{count_after_second}, expected {total}")
    if r1.inserted + r2.inserted != total or r3.unchanged + r4.unchanged != total:
        problems.append(
            "counts: the first pass must insert every row and the second leave every row unchanged"
        )
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    print(
        f"ingest: upsert_rows_per_s={upsert_rate:.0f} copy_rows_per_s={copy_rate:.0f} ratio={ratio:.2f} "
        f"unchanged_ratio={unchanged_ratio:.2f} peak_rss_mb={rss:.0f}"
    )
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
