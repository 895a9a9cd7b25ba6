"""Benchmark: the ingestion service against PostgreSQL's own COPY, on the same rows, in one run.

    DATABASE_URL=postgres://... python bench/ingest.py [--points 1000000] [--tickets 200000]

For each of N slices of the rows (10 by default; each slice is a set of metrics or a range of tickets):
1. COPY the slice into a scratch table made `LIKE` the real one (same columns, same indexes), straight
   from the row generator: the ceiling for getting these rows in. Also into a second scratch table that
   has the real table's foreign keys too, to show what their checks cost, and into a third one in COPY's
   binary format, which the service stages with (both reported, not in the summary);
2. upsert the same rows into the real table through productops.signals.ingest.upsert (all new);
3. upsert them again: every one is unchanged, and the row count must not move.
Interleaving the phases slice by slice keeps a shared machine's load from favouring one phase.

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
from functools import partial
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
TAGS: tuple[list[str], ...] = (["billing"], ["billing", "export"], ["login"], ["mobile", "crash"], [])
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


def tickets(product_id: int, stop: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, stop):
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


def copy_rows(
    table: str,
    columns: list[str],
    rows: Iterator[dict[str, Any]],
    json_cols: set[str],
    binary: bool = False,
) -> int:
    """COPY rows into a table as one stream: PostgreSQL's own bulk path, the ceiling to compare with."""
    import json

    from django.db import connection, transaction
    from psycopg.types.json import Jsonb

    get = itemgetter(*columns)
    json_index = [i for i, c in enumerate(columns) if c in json_cols]
    now = datetime.now(UTC)
    extra = ["first_seen_at", "last_seen_at"] if "source_key" in columns else []
    n = 0
    dump_json = Jsonb if binary else json.dumps
    with transaction.atomic(), connection.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns + extra)}) FROM STDIN"
        if binary:
            cursor.execute(f"SELECT {', '.join(columns + extra)} FROM {table} LIMIT 0")
            types = [d.type_code for d in cursor.description]
            sql += " (FORMAT BINARY)"
        with cursor.cursor.copy(sql) as copy:
            if binary:
                copy.set_types(types)
            for row in rows:
                values = list(get(row))
                for i in json_index:
                    values[i] = dump_json(values[i])
                if extra:
                    values += [now, now]
                copy.write_row(values)
                n += 1
    return n


def copy_factory(
    table: str,
    columns: list[str],
    rows: Callable[[], Iterator[dict[str, Any]]],
    json_cols: set[str],
    binary: bool = False,
) -> int:
    return copy_rows(table, columns, rows(), json_cols, binary)


def upsert_factory(
    upsert: Callable[..., Any], model: Any, rows: Callable[[], Iterator[dict[str, Any]]]
) -> Any:
    return upsert(model, rows())


def clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--slices", type=int, default=10, help="Interleave the measurements over N slices.")
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=["filtered_merge", "binary_copy"],
        help="Switch off one of the service's fast paths, to measure what it buys (repeatable).",
    )
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
    from productops.signals import ingest
    from productops.signals.ingest import UpsertResult, upsert

    for name in args.without:
        ingest.FAST_PATHS[name] = False
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
                cur.execute(f"DROP TABLE IF EXISTS {scratch}, {scratch}_fk, {scratch}_bin")
        MetricPoint.objects.filter(metric__source_key=SOURCE)._raw_delete(MetricPoint.objects.db)
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
                cur.execute(f"CREATE TABLE {scratch}_bin (LIKE {table} INCLUDING ALL)")
                cur.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                    "AND contype = 'f'",
                    [table],
                )
                for (definition,) in cur.fetchall():
                    cur.execute(f"ALTER TABLE {scratch}_fk ADD {definition}")

        n_points, n_tickets = args.points, args.tickets
        total = n_points + n_tickets
        slices = max(1, min(args.slices, args.metrics))
        print(
            f"ingest bench: {n_points:,} metric points + {n_tickets:,} tickets on PostgreSQL, {slices} slices"
        )
        # (table label, model, scratch table, columns, json columns, row factory, rows) per slice.
        work: list[
            tuple[str, type[Any], str, list[str], set[str], Callable[[], Iterator[dict[str, Any]]], int]
        ] = []
        per_metric = -(-len(metric_ids) // slices)
        for i in range(slices):
            ids = metric_ids[i * per_metric : (i + 1) * per_metric]
            n = n_points // slices + (1 if i < n_points % slices else 0)
            work.append(
                (
                    "metric points",
                    MetricPoint,
                    scratch_points,
                    POINT_COLUMNS,
                    set(),
                    partial(points, ids, n),
                    n,
                )
            )
        for i in range(slices):
            lo, hi = i * n_tickets // slices, (i + 1) * n_tickets // slices
            work.append(
                (
                    "tickets",
                    SupportTicket,
                    scratch_tickets,
                    TICKET_COLUMNS,
                    {"tags"},
                    partial(tickets, product.pk, hi, lo),
                    hi - lo,
                )
            )
        # The four measurements run one after the other on each slice, so a busy neighbour on a shared
        # machine slows all four alike instead of skewing whichever phase it happens to overlap.
        seconds = {"copy": 0.0, "copy_fk": 0.0, "copy_binary": 0.0, "new": 0.0, "unchanged": 0.0}
        by_table: dict[tuple[str, str], float] = {}
        first, second = UpsertResult(), UpsertResult()
        counts_ok = True

        def stored() -> int:
            return (
                MetricPoint.objects.filter(metric__source_key=SOURCE).count()
                + SupportTicket.objects.filter(source_key=SOURCE).count()
            )

        for label, model, scratch, columns, json_cols, rows, _n in work:
            steps: list[tuple[str, Callable[[], Any]]] = [
                ("copy", partial(copy_factory, scratch, columns, rows, json_cols)),
                ("copy_fk", partial(copy_factory, f"{scratch}_fk", columns, rows, json_cols)),
                ("copy_binary", partial(copy_factory, f"{scratch}_bin", columns, rows, json_cols, True)),
                ("new", partial(upsert_factory, upsert, model, rows)),
            ]
            for phase, fn in steps:
                took, out = clock(fn)
                seconds[phase] += took
                by_table[label, phase] = by_table.get((label, phase), 0.0) + took
            first += out
            before = stored()
            took, out = clock(partial(upsert_factory, upsert, model, rows))
            seconds["unchanged"] += took
            by_table[label, "unchanged"] = by_table.get((label, "unchanged"), 0.0) + took
            second += out
            counts_ok &= stored() == before
        count_after = stored()
    finally:
        cleanup()

    sizes = {"metric points": n_points, "tickets": n_tickets}
    names = {
        "copy": "COPY, same columns and indexes",
        "copy_fk": "COPY, also the foreign keys",
        "copy_binary": "COPY binary, columns and indexes",
        "new": "upsert, new rows",
        "unchanged": "upsert again, unchanged",
    }
    for (label, phase), took in by_table.items():
        rows_n = sizes[label]
        print(
            f"  {label:<14} {names[phase]:<32} {rows_n:>9,} rows in {took:7.2f} s "
            f"= {rows_n / took:>9,.0f} rows/s"
        )
    copy_rate = total / seconds["copy"]
    copy_fk_rate = total / seconds["copy_fk"]
    copy_binary_rate = total / seconds["copy_binary"]
    upsert_rate = total / seconds["new"]
    unchanged_rate = total / seconds["unchanged"]
    ratio = upsert_rate / copy_rate
    unchanged_ratio = unchanged_rate / copy_rate
    rss = peak_rss_mb()
    print(f"first pass:  inserted={first.inserted:,} updated={first.updated:,} unchanged={first.unchanged:,}")
    print(
        f"second pass: inserted={second.inserted:,} updated={second.updated:,} unchanged={second.unchanged:,}"
    )
    print(
        f"row count after both passes {count_after:,} (expected {total:,}); "
        f"the second pass left it unchanged: {counts_ok}"
    )
    print(
        f"copy {copy_rate:,.0f} rows/s; upsert new {upsert_rate:,.0f} rows/s "
        f"(ratio {ratio:.2f}, goal >= 0.5); "
        f"upsert unchanged {unchanged_rate:,.0f} rows/s (ratio {unchanged_ratio:.2f}, goal >= 0.75)"
    )
    print(
        f"against COPY into the tables with foreign keys ({copy_fk_rate:,.0f} rows/s): "
        f"ratio {upsert_rate / copy_fk_rate:.2f}, unchanged ratio {unchanged_rate / copy_fk_rate:.2f}"
    )
    print(
        f"against binary COPY into the same tables ({copy_binary_rate:,.0f} rows/s): "
        f"ratio {upsert_rate / copy_binary_rate:.2f}, unchanged ratio {unchanged_rate / copy_binary_rate:.2f}"
    )
    print(f"peak RSS {rss:.0f} MB (goal < 500 MB)")
    problems = []
    if count_after != total or not counts_ok:
        problems.append(f"row count {count_after:,} (expected {total:,}); second passes kept it: {counts_ok}")
    if first.inserted != total or second.unchanged != total:
        problems.append(
            "counts: the first pass must insert every row and the second leave every row unchanged"
        )
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    print(
        f"ingest: upsert_rows_per_s={upsert_rate:.0f} copy_rows_per_s={copy_rate:.0f} ratio={ratio:.2f} "
        f"unchanged_ratio={unchanged_ratio:.2f} peak_rss_mb={rss:.0f}"
        + (f" without={','.join(args.without)}" if args.without else "")
    )
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
