"""Reads for feedback: the text frame themes are built from, theme volume series for the anomaly
detector, theme lists and details for the pages, and a portfolio item's customer evidence.

Series frames are long: (series_id, ts, value), one row per series and week, zero-filled, so a
detector can treat every theme (or support metric) the same way as any other metric series.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Avg, CharField, Count, Func, Q, Sum
from django.db.models.functions import TruncWeek

from insights import sentiment
from insights.overlaps import match
from productops.portfolio.models import PortfolioItem
from productops.research.models import Highlight
from productops.signals.models import KbSearch, Mention, NpsResponse, SupportTicket
from productops.ui.filters import ALL_TIME, Choice, Filters, Segment, latest_plausible
from productops.ui.filters import parse_filters as parse_shared

from .models import EvidenceLink, FeedbackSource, LinkStatus, Theme, ThemeMember, ThemeStatus, ThemeWeekly

QUOTE_POOL = 300  # members considered when picking an item's quotes
FRAME_COLUMNS = ["source", "object_id", "product_id", "ts", "text", "sentiment", "segment"]


def _window_start(latest: datetime | None) -> datetime | None:
    days = getattr(settings, "FEEDBACK_THEME_WINDOW_DAYS", 365)
    return latest - timedelta(days=days) if latest else None


def feedback_frame(product_ids: Iterable[int] | None = None, since: datetime | None = None) -> pd.DataFrame:
    """All feedback text of the last FEEDBACK_THEME_WINDOW_DAYS (default 365) before the newest row,
    one row per piece of feedback, across NPS comments, tickets, mentions, KB searches and research
    highlights; with `since`, only the rows dated from then on (within that window)."""
    ids = list(product_ids) if product_ids else None
    scope = Q(product_id__in=ids) if ids else Q()
    # A row dated years ahead (a source's sentinel) must not move the window away from real feedback.
    until = datetime.combine(latest_plausible(), datetime.min.time(), tzinfo=UTC)
    latest = max(
        (
            d
            for d in (
                NpsResponse.objects.filter(scope, submitted_at__lt=until)
                .order_by("-submitted_at")
                .values_list("submitted_at", flat=True)
                .first(),
                SupportTicket.objects.filter(scope, opened_at__lt=until)
                .order_by("-opened_at")
                .values_list("opened_at", flat=True)
                .first(),
                Mention.objects.filter(scope, posted_at__lt=until)
                .order_by("-posted_at")
                .values_list("posted_at", flat=True)
                .first(),
            )
            if d is not None
        ),
        default=None,
    )
    start = _window_start(latest)
    frames = []
    nps = NpsResponse.objects.filter(scope).exclude(comment="")
    tickets = SupportTicket.objects.filter(scope)
    mentions = Mention.objects.filter(scope)
    kb = KbSearch.objects.filter(scope)
    if start:
        nps = nps.filter(submitted_at__gte=start, submitted_at__lt=until)
        tickets = tickets.filter(opened_at__gte=start, opened_at__lt=until)
        mentions = mentions.filter(posted_at__gte=start, posted_at__lt=until)
        kb = kb.filter(date__gte=start.date(), date__lt=until.date())
    if since is not None:
        nps = nps.filter(submitted_at__gte=since)
        tickets = tickets.filter(opened_at__gte=since)
        mentions = mentions.filter(posted_at__gte=since)
        kb = kb.filter(date__gte=since.date())
    rows: list[Any] = list(
        nps.values_list("id", "product_id", "submitted_at", "comment", "sentiment", "segment")
    )
    if rows:
        f = pd.DataFrame(rows, columns=["object_id", "product_id", "ts", "text", "sentiment", "segment"])
        f["source"] = "nps"
        frames.append(f)
    rows = list(
        tickets.values_list("id", "product_id", "opened_at", "subject", "body_text", "body", "sentiment")
    )
    if rows:
        f = pd.DataFrame(
            rows, columns=["object_id", "product_id", "ts", "subject", "body_text", "body", "sentiment"]
        )
        f["text"] = [
            f"{s}. {sentiment.clean_text(bt or b)}".strip(" .")
            for s, bt, b in zip(f["subject"], f["body_text"], f["body"], strict=True)
        ]
        f["source"], f["segment"] = "ticket", [{} for _ in range(len(f))]
        frames.append(f.drop(columns=["subject", "body_text", "body"]))
    rows = list(mentions.values_list("id", "product_id", "posted_at", "title", "text", "sentiment"))
    if rows:
        f = pd.DataFrame(rows, columns=["object_id", "product_id", "ts", "title", "body", "sentiment"])
        f["text"] = (f["title"] + ". " + f["body"]).str.strip(" .")
        f["source"], f["segment"] = "mention", [{} for _ in range(len(f))]
        frames.append(f.drop(columns=["title", "body"]))
    highlights = Highlight.objects.filter(Q(study__product_id__in=ids) if ids else Q())
    if start:
        highlights = highlights.filter(created_at__gte=start, created_at__lt=until)
    rows = list(
        highlights.values_list("id", "study__product_id", "created_at", "quote", "sentiment", "segment")
    )
    if rows:
        f = pd.DataFrame(rows, columns=["object_id", "product_id", "ts", "text", "sentiment", "segment"])
        f["segment"] = [{"segment": s} if s else {} for s in f["segment"]]
        f["source"] = "research"
        frames.append(f)
    rows = list(kb.values_list("id", "product_id", "date", "term"))
    if rows:
        f = pd.DataFrame(rows, columns=["object_id", "product_id", "ts", "text"])
        f["ts"] = pd.to_datetime(f["ts"]).dt.tz_localize("UTC")
        f["source"], f["sentiment"], f["segment"] = "kb", np.nan, [{} for _ in range(len(f))]
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    out = pd.concat(frames, ignore_index=True)[FRAME_COLUMNS]
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    out["product_id"] = out["product_id"].astype(object).where(out["product_id"].notna(), None)
    out = out[out["text"].str.len() > 0]
    return out.reset_index(drop=True)


def _week_floor(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts, utc=True)
    return (ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time).dt.tz_localize(
        "UTC"
    )


def _zero_fill(counts: pd.DataFrame, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Long (series_id, ts, value) frame with missing weeks as 0 from each series' first week to the end."""
    if counts.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"])
    end = end if end is not None else counts["ts"].max()
    counts = counts.groupby(["series_id", "ts"], sort=True)["value"].sum().reset_index()
    weeks = pd.date_range(counts["ts"].min(), end, freq="7D")
    ids, codes = np.unique(counts["series_id"].to_numpy(dtype=str), return_inverse=True)
    col = weeks.get_indexer(pd.DatetimeIndex(counts["ts"]))
    keep = col >= 0
    grid = np.zeros((len(ids), len(weeks)))
    grid[codes[keep], col[keep]] = counts["value"].to_numpy(dtype=float)[keep]
    first = np.full(len(ids), len(weeks))
    np.minimum.at(first, codes[keep], col[keep])
    rows, cols = np.nonzero(np.arange(len(weeks))[None, :] >= first[:, None])
    return pd.DataFrame({"series_id": ids[rows], "ts": weeks[cols], "value": grid[rows, cols]})


def theme_volume_frame(
    product_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    theme_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """THE CONTRACT for the anomaly detector: weekly feedback volume of every active theme as a long
    frame with columns series_id ("theme:<id>"), ts (week start, Monday 00:00 UTC), value (count).
    Zero weeks are present. Example tickets for a week: ThemeMember rows of that theme in [ts, ts+7d)."""
    if since is None:  # whole weeks: the rollup has them
        return _long_weekly(
            rollup_week_counts(theme_ids=list(theme_ids) if theme_ids else None, product_ids=product_ids)
        )
    # From a date on (part of a week): counted from the members themselves.
    members = ThemeMember.objects.filter(theme__status=ThemeStatus.ACTIVE, ts__gte=since)
    if product_ids:
        members = members.filter(product_id__in=list(product_ids))
    if theme_ids:
        members = members.filter(theme_id__in=list(theme_ids))
    return _long_weekly(member_week_counts(members))


def theme_spikes(
    frame: pd.DataFrame, recent_weeks: int = 8, min_z: float = 6.0, min_count: int = 20
) -> list[dict[str, Any]]:
    """Weeks in the last `recent_weeks` where a theme's volume jumps far above its own earlier weeks
    (median + MAD, which one spike cannot inflate). A simple stand-in until the anomaly detector
    (branch issue-7) reads theme_volume_frame(); the Feedback page flags these."""
    spikes: list[dict[str, Any]] = []
    if frame.empty:
        return spikes
    end = frame["ts"].max()
    cutoff = end - pd.Timedelta(weeks=recent_weeks)
    frame = frame.sort_values(["series_id", "ts"], kind="stable")
    ids = frame["series_id"].to_numpy(dtype=str)
    ts_all = pd.DatetimeIndex(frame["ts"])
    late_all = np.asarray(ts_all > cutoff)
    values_all = frame["value"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], len(ids)], strict=True):
        series_id, values, late = ids[lo], values_all[lo:hi], np.asarray(late_all[lo:hi])
        history = values[~late]
        if history.size < 4:
            history = values
        median = float(np.median(history))
        mad = float(np.median(np.abs(history - median))) * 1.4826
        scale = max(mad, np.sqrt(max(median, 1.0)))  # Poisson floor: a quiet theme needs a real jump
        for i in np.flatnonzero(late):
            value = values[i]
            z = (value - median) / scale
            if z >= min_z and value >= min_count:
                spikes.append(
                    {
                        "theme_id": int(str(series_id).split(":")[1]),
                        "week": ts_all[lo + i].to_pydatetime(),
                        "value": float(value),
                        "baseline": median,
                        "z": float(z),
                    }
                )
    spikes.sort(key=lambda s: -s["z"])
    # One insight per theme: its strongest recent week.
    best: dict[int, dict[str, Any]] = {}
    for spike in spikes:
        best.setdefault(spike["theme_id"], spike)
    return list(best.values())


# --- Pages -------------------------------------------------------------------------------------


# The feedback pages' own parameters, on top of the shared filter bar; they default to all time.
FEEDBACK_PARAMS = {
    "source": Choice(values=tuple(FeedbackSource.values)),
    "segment": Segment(),
}


def parse_filters(request: Any) -> Filters:
    return parse_shared(request, params=FEEDBACK_PARAMS, default_range=ALL_TIME)


def scope_products(qs: Any, filters: Filters | None, field: str = "product") -> Any:
    """Narrow rows with a product to the filters' product and team (the team's products). `field` is the
    path to the product; "" for a queryset of products."""
    if filters is None:
        return qs
    prefix = f"{field}__" if field else ""
    if filters.product:
        qs = qs.filter(**{f"{prefix}pk": filters.product.pk})
    if filters.team:
        qs = qs.filter(**{f"{prefix}teams": filters.team})
    return qs


def filtered_members(filters: Filters) -> Any:
    members = ThemeMember.objects.filter(theme__status=ThemeStatus.ACTIVE)
    members = scope_products(members, filters)
    if filters.get("source"):
        members = members.filter(source=filters.get("source"))
    if filters.segment:
        members = members.filter(**{f"segment__{filters.segment[0]}": filters.segment[1]})
    return members.filter(filters.window("ts"))


def theme_rows(filters: Filters, limit: int = 100) -> list[dict[str, Any]]:
    """Active themes ranked by volume within the filters, with sentiment and 4-week change. Counted and
    averaged in the database (one GROUP BY over the range's members), never row by row in Python."""
    ranked = list(
        filtered_members(filters)
        .values("theme_id")
        .annotate(volume=Count("id"), sentiment=Avg("sentiment"))
        .order_by("-volume", "theme_id")[:limit]
    )
    if not ranked:
        return []
    ids = [r["theme_id"] for r in ranked]
    themes = Theme.objects.select_related("product").in_bulk(ids)
    links = dict(
        EvidenceLink.objects.filter(theme_id__in=ids)
        .exclude(status=LinkStatus.REJECTED)
        .values("theme_id")
        .annotate(n=Count("id"))
        .values_list("theme_id", "n")
    )
    return [
        {
            "theme": themes[r["theme_id"]],
            "volume": int(r["volume"]),
            "sentiment": None if r["sentiment"] is None else float(r["sentiment"]),
            "links": links.get(r["theme_id"], 0),
        }
        for r in ranked
        if r["theme_id"] in themes
    ]


class UtcWeek(Func):
    """The Monday (UTC) of a timestamp's week, computed by the database itself, so the GROUP BY week stays
    in the database and returns one row per theme and week. PostgreSQL gives a date, SQLite ISO text;
    the caller reads the cursor directly and parses either."""

    output_field = CharField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        if connection.vendor == "postgresql":
            template = "(date_trunc('week', (%(expressions)s) AT TIME ZONE 'UTC'))::date"
        else:  # SQLite: forward to the week's Sunday (or stay on it), then back six days
            template = "date(%(expressions)s, 'weekday 0', '-6 days')"
        return super().as_sql(compiler, connection, template=template)


def member_week_counts(members: Any, *, by_product: bool = False) -> list[tuple[Any, ...]]:
    """(theme_id, [product_id,] week, count) per theme (and product) and week (Monday, UTC) of a member
    queryset, grouped in the database and read straight from the cursor (every value is plain: ids,
    counts, and the week as a date or, on SQLite, ISO text, returned as a date either way)."""
    keys = ["theme_id", "product_id", "week"] if by_product else ["theme_id", "week"]
    weekly = (
        members.annotate(week=UtcWeek("ts"))
        .values(*keys)
        .annotate(value=Count("id"))
        .values_list(*keys, "value")
    )
    try:
        sql, params = weekly.query.sql_with_params()
    except EmptyResultSet:  # e.g. theme__in=[]: nothing to count
        return []
    with connections[weekly.db].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return [
        (*row[:-2], row[-2] if isinstance(row[-2], date) else date.fromisoformat(str(row[-2])), row[-1])
        for row in fetched
    ]


def _long_weekly(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """(theme_id, week, count) rows as the zero-filled long frame (series_id "theme:<id>", ts, value)."""
    counts = pd.DataFrame(rows, columns=["theme_id", "week", "value"])
    if counts.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"])
    counts["ts"] = pd.to_datetime(counts["week"]).dt.tz_localize("UTC")
    counts = counts.groupby(["theme_id", "ts"], as_index=False)["value"].sum()
    counts["series_id"] = "theme:" + counts["theme_id"].astype(str)
    return _zero_fill(counts[["series_id", "ts", "value"]])


def theme_weekly_counts(members: Any) -> pd.DataFrame:
    """Members per theme and week (Monday, UTC) of any member queryset (a page's filters applied),
    counted in the database, as a zero-filled long frame (series_id "theme:<id>", ts, value)."""
    return _long_weekly(member_week_counts(members))


def rollup_week_counts(
    theme_ids: Iterable[int] | None = None,
    product_ids: Iterable[int] | None = None,
    active_only: bool = True,
) -> list[tuple[Any, ...]]:
    """(theme_id, week, members) from the ThemeWeekly rollup: whole weeks of whole themes, the same
    numbers as `member_week_counts` over their members (tested), without reading a member row."""
    rows = ThemeWeekly.objects.all()
    if active_only:
        rows = rows.filter(theme__status=ThemeStatus.ACTIVE)
    if theme_ids is not None:
        rows = rows.filter(theme_id__in=list(theme_ids))
    if product_ids:
        rows = rows.filter(product_id__in=list(product_ids))
    return list(
        rows.values("theme_id", "week").annotate(n=Sum("members")).values_list("theme_id", "week", "n")
    )


def theme_history(theme_ids: Iterable[int]) -> pd.DataFrame:
    """Every week of the given themes, whatever a page's filters, from the rollup, zero-filled."""
    return _long_weekly(rollup_week_counts(theme_ids=theme_ids, active_only=False))


def page_sentiment_frame(filters: Filters) -> pd.DataFrame:
    """Mean sentiment per week and product ("sentiment:<slug>") within the filters, from the daily
    sentiment rollup (productops.dashboards.rollups.refresh_sentiment)."""
    from productops.dashboards.models import SentimentDaily

    qs = scope_products(SentimentDaily.objects.all(), filters).filter(filters.window("day", dates=True))
    rows = list(qs.values_list("product__slug", "day").annotate(total=Sum("total"), n=Sum("n")))
    frame = pd.DataFrame(rows, columns=["key", "day", "total", "n"])
    if frame.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"])
    frame["ts"] = _week_floor(pd.to_datetime(frame["day"]).dt.tz_localize("UTC"))
    frame["series_id"] = [f"sentiment:{k or 'none'}" for k in frame["key"]]
    sums = frame.groupby(["series_id", "ts"])[["total", "n"]].sum().reset_index()
    sums["value"] = sums["total"].astype(float) / sums["n"]
    return sums[["series_id", "ts", "value"]]


def item_evidence(item_id: int) -> dict[str, Any]:
    """A portfolio item's customer evidence through its non-rejected theme links: counts per source,
    mean sentiment and the strongest quotes. For the portfolio item page (branch issue-8) to include."""
    links = list(
        EvidenceLink.objects.filter(item_id=item_id)
        .exclude(status=LinkStatus.REJECTED)
        .select_related("theme")
        .order_by("-score")
    )
    theme_ids = [link.theme_id for link in links]
    members = ThemeMember.objects.filter(theme_id__in=theme_ids)
    frame = pd.DataFrame.from_records(members.values("source", "sentiment"))
    counts = frame.groupby("source").size().to_dict() if not frame.empty else {}
    mean = float(frame["sentiment"].mean()) if not frame.empty and frame["sentiment"].notna().any() else None
    # Individual feedback matched to the item: among the linked themes' strongest members, the quotes
    # that read most like the item itself come first (the overlap detector's engine, like the theme links).
    candidates: list[dict[str, Any]] = [
        dict(row)
        for row in members.order_by("-weight").values("source", "quote", "ts", "sentiment")[:QUOTE_POOL]
    ]
    quotes = candidates[:5]
    item = PortfolioItem.objects.filter(pk=item_id).values("title", "description").first()
    if item and len(candidates) > 5:
        ranked = match(
            [f"{item['title']} {item['description'][:2000]}"], [c["quote"] for c in candidates], k=5
        )[0]
        chosen = [i for i, _ in ranked]
        # Fewer than five quotes share words with the item: the strongest members fill the rest.
        chosen += [i for i in range(len(candidates)) if i not in chosen][: 5 - len(chosen)]
        scores = dict(ranked)
        quotes = [{**candidates[i], "similarity": scores.get(i, 0.0)} for i in chosen]
    return {
        "links": links,
        "counts": counts,
        "total": int(sum(counts.values())),
        "sentiment": mean,
        "quotes": quotes,
    }


def sentiment_weekly_frame(
    product_ids: Iterable[int] | None = None, theme_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Mean sentiment per week as a long (series_id, ts, value) frame: "sentiment:<product slug>" over
    all scored NPS comments, tickets and mentions, plus "theme:<id>:sentiment" for the given themes."""
    ids = list(product_ids) if product_ids else None
    plausible = parse_shared({}, default_range=ALL_TIME)  # all time, within the plausible window
    parts = []
    for model, ts_field in (
        (NpsResponse, "submitted_at"),
        (SupportTicket, "opened_at"),
        (Mention, "posted_at"),
    ):
        qs = model.objects.filter(sentiment__isnull=False).filter(plausible.window(ts_field))
        if ids:
            qs = qs.filter(product_id__in=ids)
        # Summed per product and week in the database: the page reads a few hundred rows, not every text.
        weekly = (
            qs.annotate(week=TruncWeek(ts_field, tzinfo=UTC))
            .values_list("product__slug", "week")
            .annotate(total=Sum("sentiment"), n=Count("id"))
        )
        parts.append(pd.DataFrame(list(weekly), columns=["key", "ts", "total", "n"]))
    if theme_ids:
        rows = ThemeMember.objects.filter(theme_id__in=list(theme_ids), sentiment__isnull=False)
        by_theme = (
            rows.annotate(week=TruncWeek("ts", tzinfo=UTC))
            .values_list("theme_id", "week")
            .annotate(total=Sum("sentiment"), n=Count("id"))
        )
        members = pd.DataFrame(list(by_theme), columns=["key", "ts", "total", "n"])
        members["key"] = "theme:" + members["key"].astype(str)
        parts.append(members)
    frame = (
        pd.concat([p for p in parts if not p.empty], ignore_index=True)
        if any(not p.empty for p in parts)
        else pd.DataFrame(columns=["key", "ts", "total", "n"])
    )
    if frame.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"])
    frame["ts"] = _week_floor(frame["ts"])
    frame["series_id"] = [
        k if str(k).startswith("theme:") else f"sentiment:{k or 'none'}" for k in frame["key"]
    ]
    frame.loc[frame["series_id"].str.startswith("theme:"), "series_id"] += ":sentiment"
    sums = frame.groupby(["series_id", "ts"])[["total", "n"]].sum().reset_index()
    sums["value"] = sums["total"].astype(float) / sums["n"]
    return sums[["series_id", "ts", "value"]]
