"""Rebuild the daily rollups with set-based SQL: never a Python loop over raw rows.

A refresh replaces the rollup rows of the given metrics (or products) from `since` on, inside one
transaction, so a page never sees a half-built day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db import connection, transaction

from productops.core.versions import bump


def _day(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"(({column}) AT TIME ZONE 'UTC')::date"
    return f"date({column})"


def _in_clause(column: str, ids: list[int] | None, params: list[Any]) -> str:
    if ids is None:
        return ""
    if not ids:
        return " AND 1 = 0"
    params.extend(ids)
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})"


@transaction.atomic
def refresh_metrics(metric_ids: Iterable[int] | None = None, since: date | None = None) -> None:
    ids = sorted(set(metric_ids)) if metric_ids is not None else None
    del_params: list[Any] = []
    where = _in_clause("metric_id", ids, del_params)
    if since:
        where += " AND day >= %s"
        del_params.append(since)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM dashboards_metricdaily WHERE 1 = 1{where}", del_params)
        params: list[Any] = []
        point_where = _in_clause("p.metric_id", ids, params)
        if since:
            point_where += f" AND {_day('p.ts')} >= %s"
            params.append(since)
        # A day with one point per series (the common daily grain) is that point; finer grains are summed
        # or averaged per the metric's aggregation ("last" averages: sources report it at daily grain).
        cursor.execute(
            f"""
            INSERT INTO dashboards_metricdaily
                (metric_id, product_id, dimension_key, dimension_value, day, value, points)
            SELECT p.metric_id, m.product_id, p.dimension_key, p.dimension_value, {_day("p.ts")},
                   CASE WHEN m.aggregation = 'sum' THEN SUM(p.value) ELSE AVG(p.value) END, COUNT(*)
            FROM signals_metricpoint p JOIN signals_metric m ON m.id = p.metric_id
            WHERE 1 = 1{point_where}
            GROUP BY p.metric_id, m.product_id, m.aggregation, p.dimension_key, p.dimension_value,
                     {_day("p.ts")}
            """,
            params,
        )


@transaction.atomic
def refresh_tickets(product_ids: Iterable[int] | None = None, since: date | None = None) -> None:
    ids = sorted(set(product_ids)) if product_ids is not None else None
    del_params: list[Any] = []
    where = _in_clause("product_id", ids, del_params)
    if since:
        where += " AND day >= %s"
        del_params.append(since)
    if connection.vendor == "postgresql":
        tags = "jsonb_array_elements_text(t.tags::jsonb) AS tag(value)"
    else:
        tags = "json_each(t.tags) AS tag"
    day = _day("t.opened_at")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM dashboards_ticketdaily WHERE 1 = 1{where}", del_params)
        for per_tag in (False, True):
            params: list[Any] = []
            ticket_where = _in_clause("t.product_id", ids, params)
            if since:
                ticket_where += f" AND {day} >= %s"
                params.append(since)
            tag_expr = "tag.value" if per_tag else "''"
            source = f"signals_supportticket t, {tags}" if per_tag else "signals_supportticket t"
            cursor.execute(
                f"""
                INSERT INTO dashboards_ticketdaily (product_id, tag, day, opened, solved)
                SELECT t.product_id, {tag_expr}, {day}, COUNT(*),
                       SUM(CASE WHEN t.solved_at IS NOT NULL THEN 1 ELSE 0 END)
                FROM {source}
                WHERE 1 = 1{ticket_where}
                GROUP BY t.product_id{", tag.value" if per_tag else ""}, {day}
                """,
                params,
            )


def refresh_support(product_ids: Iterable[int] | None = None, since: date | None = None) -> None:
    """The Support page's rollups (counts, times, backlog) of these products from `since` on."""
    from insights.feedback import support_rollup

    support_rollup.refresh(product_ids, since=since)


SENTIMENT_SOURCES = {
    "nps": ("signals_npsresponse", "submitted_at"),
    "ticket": ("signals_supportticket", "opened_at"),
    "mention": ("signals_mention", "posted_at"),
}


@transaction.atomic
def refresh_sentiment(
    sources: Iterable[str] | None = None,
    product_ids: Iterable[int] | None = None,
    since: date | None = None,
) -> None:
    """Scored feedback per product, source and day (sum and count), for the Feedback page's chart."""
    ids = sorted(set(product_ids)) if product_ids is not None else None
    with connection.cursor() as cursor:
        for source in sorted(set(sources) if sources is not None else set(SENTIMENT_SOURCES)):
            table, ts = SENTIMENT_SOURCES[source]
            del_params: list[Any] = [source]
            where = _in_clause("product_id", ids, del_params)
            if since:
                where += " AND day >= %s"
                del_params.append(since)
            cursor.execute(f"DELETE FROM dashboards_sentimentdaily WHERE source = %s{where}", del_params)
            params: list[Any] = [source]
            row_where = _in_clause("s.product_id", ids, params)
            if since:
                row_where += f" AND {_day('s.' + ts)} >= %s"
                params.append(since)
            cursor.execute(
                f"""
                INSERT INTO dashboards_sentimentdaily (product_id, source, day, total, n)
                SELECT s.product_id, %s, {_day("s." + ts)}, SUM(s.sentiment), COUNT(*)
                FROM {table} s
                WHERE s.sentiment IS NOT NULL{row_where}
                GROUP BY s.product_id, {_day("s." + ts)}
                """,
                params,
            )


# The anomaly detector's derived series: (table, source table, its date column as a day, the columns
# and their aggregates). Each is rebuilt per product from `since` on, like the rollups above.
FEEDBACK_DAILY = {
    "nps": (
        "dashboards_npsdaily",
        "signals_npsresponse",
        "submitted_at",
        ("n", "promoters", "detractors"),
        (
            "COUNT(*)",
            "SUM(CASE WHEN s.score >= 9 THEN 1 ELSE 0 END)",
            "SUM(CASE WHEN s.score <= 6 THEN 1 ELSE 0 END)",
        ),
    ),
    "mentions": ("dashboards_mentiondaily", "signals_mention", "posted_at", ("n",), ("COUNT(*)",)),
    "kb": (
        "dashboards_kbdaily",
        "signals_kbsearch",
        "date",
        ("searches", "no_result"),
        ("SUM(s.searches)", "SUM(s.no_result_searches)"),
    ),
}


@transaction.atomic
def refresh_feedback_daily(
    families: Iterable[str] | None = None,
    product_ids: Iterable[int] | None = None,
    since: date | None = None,
) -> None:
    """NpsDaily, MentionDaily and KbDaily of these products from `since` on (families: nps, mentions, kb)."""
    ids = sorted(set(product_ids)) if product_ids is not None else None
    chosen = sorted(set(families) & set(FEEDBACK_DAILY) if families is not None else set(FEEDBACK_DAILY))
    with connection.cursor() as cursor:
        for family in chosen:
            table, source, ts, columns, aggregates = FEEDBACK_DAILY[family]
            # KbSearch is dated by a DateField already; the others by a timestamp, bucketed by UTC day.
            day = "s.date" if ts == "date" else _day("s." + ts)
            del_params: list[Any] = []
            where = _in_clause("product_id", ids, del_params)
            if since:
                where += " AND day >= %s"
                del_params.append(since)
            cursor.execute(f"DELETE FROM {table} WHERE 1 = 1{where}", del_params)
            params: list[Any] = []
            row_where = _in_clause("s.product_id", ids, params)
            if since:
                row_where += f" AND {day} >= %s"
                params.append(since)
            cursor.execute(
                f"""
                INSERT INTO {table} (product_id, day, {", ".join(columns)})
                SELECT s.product_id, {day}, {", ".join(aggregates)}
                FROM {source} s
                WHERE 1 = 1{row_where}
                GROUP BY s.product_id, {day}
                """,
                params,
            )


def refresh_all() -> None:
    refresh_metrics()
    refresh_tickets()
    refresh_support()
    refresh_sentiment()
    refresh_feedback_daily()
    bump()
