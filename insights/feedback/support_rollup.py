"""The Support page's numbers from precomputed rollups, never from raw tickets per request.

`refresh(product_ids, since)` rebuilds, for the tickets opened from the Monday of `since` on:

- TicketRollup: per product, channel, tag and day, counts and sums (opened, still open, CSAT, sentiment),
  so any date range adds up exactly and every count equals the rows its drill-down opens;
- TicketTimesWeekly: per product, channel, tag and week, histograms of first-response and resolution
  time (business hours where SUPPORT_BUSINESS_HOURS says so) from which medians and p90s are read;
- TicketSettledDaily: per product, day opened and day settled, from which the backlog at each week's
  end follows for any date range.

The page reads a few hundred rollup rows per request (`weekly`, `breakdown`), whatever the ticket count.
Percentiles come from weekly histograms, so a range that starts mid-week includes that whole week's
times (counts are exact per day).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q, Sum

from productops.dashboards.models import TicketRollup, TicketSettledDaily, TicketTimesWeekly
from productops.signals.models import SupportTicket
from productops.ui.filters import EARLIEST, Filters, latest_plausible

# Bucket edges in hours: [0, 1 min), then geometric steps of about 12 % up to three years.
TIME_EDGES = np.concatenate([[0.0], np.geomspace(1 / 60, 3 * 365 * 24, 128)])
N_BUCKETS = len(TIME_EDGES) - 1
BATCH = 5000
TAG_MAX = 200
CHANNEL_MAX = 32


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


# --- Histograms ------------------------------------------------------------------------------------


def buckets(hours: np.ndarray) -> np.ndarray:
    """The bucket of each duration in hours (negative durations count as zero)."""
    idx = np.searchsorted(TIME_EDGES, np.maximum(hours, 0.0), side="right") - 1
    return np.clip(idx, 0, N_BUCKETS - 1)


def encode(counts: np.ndarray) -> bytes:
    """A histogram as bytes: its first non-empty bucket (uint16) and the counts up to the last (uint32)."""
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return b""
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    return struct.pack("<H", lo) + counts[lo:hi].astype("<u4").tobytes()


def decode(blob: bytes | memoryview | None) -> np.ndarray:
    out = np.zeros(N_BUCKETS, dtype=np.int64)
    data = bytes(blob or b"")
    if len(data) >= 6:
        (lo,) = struct.unpack_from("<H", data)
        values = np.frombuffer(data, dtype="<u4", offset=2)
        out[lo : lo + len(values)] = values
    return out


def percentile(counts: np.ndarray, q: float) -> float | None:
    """The q-quantile of a histogram, interpolated between order statistics as pandas does; each order
    statistic is placed within its bucket as if the bucket's items were spread evenly over it."""
    n = int(counts.sum())
    if n == 0:
        return None
    cum = np.cumsum(counts)

    def order_stat(k: int) -> float:
        b = int(np.searchsorted(cum, k + 1, side="left"))
        before = int(cum[b - 1]) if b else 0
        fraction = (k - before + 0.5) / counts[b]
        return float(TIME_EDGES[b] + fraction * (TIME_EDGES[b + 1] - TIME_EDGES[b]))

    position = q * (n - 1)
    low = int(np.floor(position))
    high = min(low + 1, n - 1)
    first = order_stat(low)
    return first + (position - low) * (order_stat(high) - first)


# --- Refresh ---------------------------------------------------------------------------------------


def _scope(qs: Any, field: str, product_ids: list[int] | None) -> Any:
    return qs.filter(**{f"{field}__in": product_ids}) if product_ids is not None else qs


@transaction.atomic
def refresh(product_ids: Iterable[int] | None = None, since: date | None = None) -> None:
    """Rebuild the support rollups of these products (all when None) from the week of `since` on."""
    from .support import tickets_frame

    ids = sorted(set(product_ids)) if product_ids is not None else None
    start = monday(since) if since else None
    rollups = _scope(TicketRollup.objects.all(), "product_id", ids)
    times = _scope(TicketTimesWeekly.objects.all(), "product_id", ids)
    settled = _scope(TicketSettledDaily.objects.all(), "product_id", ids)
    if start:
        rollups, times, settled = (
            rollups.filter(day__gte=start),
            times.filter(week__gte=start),
            settled.filter(opened_day__gte=start),
        )
    for qs in (rollups, times, settled):
        qs.delete()
    # One product at a time keeps memory bounded by the largest product, not the whole table.
    present = _scope(SupportTicket.objects.all(), "product_id", ids)
    if start:
        present = present.filter(opened_at__gte=datetime.combine(start, time.min, tzinfo=UTC))
    for pid in present.order_by().values_list("product_id", flat=True).distinct():
        frame = tickets_frame(product_id=pid, since=start)
        if not frame.empty:
            _write(frame, pid)


def _write(frame: pd.DataFrame, product_id: int | None) -> None:
    frame = frame.assign(
        day=frame["opened_at"].dt.tz_convert("UTC").dt.date,
        channel=frame["channel"].fillna("").astype(str).str.slice(0, CHANNEL_MAX),
        good=(frame["csat"] >= 4).astype(int),
        csat_n=frame["csat"].notna().astype(int),
        sent_n=frame["sentiment"].notna().astype(int),
        still_open=frame["solved_at"].isna().astype(int),
    )
    frame["week"] = [monday(d) for d in frame["day"]]
    tags = frame[["id", "tags"]].explode("tags").rename(columns={"tags": "tag"})
    tags = tags[tags["tag"].map(lambda t: isinstance(t, str) and t != "")]
    tags = tags.assign(tag=tags["tag"].str.slice(0, TAG_MAX)).drop_duplicates()
    by_tag = tags.merge(frame.drop(columns=["tags", "channel"]), on="id").assign(channel="")
    everything = frame.drop(columns=["tags"]).assign(tag="")

    rollups: list[TicketRollup] = []
    times: list[TicketTimesWeekly] = []
    for part in (everything, by_tag):
        g = part.groupby(["channel", "tag", "day"], sort=False)
        sums = g.agg(
            opened=("id", "size"),
            still_open=("still_open", "sum"),
            csat_sum=("csat", "sum"),
            csat_n=("csat_n", "sum"),
            csat_good=("good", "sum"),
            sentiment_sum=("sentiment", "sum"),
            sentiment_n=("sent_n", "sum"),
        )
        rollups += [
            TicketRollup(
                product_id=product_id,
                channel=channel,
                tag=tag,
                day=day,
                opened=int(r.opened),
                still_open=int(r.still_open),
                csat_sum=float(r.csat_sum),
                csat_n=int(r.csat_n),
                csat_good=int(r.csat_good),
                sentiment_sum=float(r.sentiment_sum),
                sentiment_n=int(r.sentiment_n),
            )
            for (channel, tag, day), r in zip(sums.index, sums.itertuples(index=False), strict=True)
        ]
        keys = part.groupby(["channel", "tag", "week"], sort=False).ngroup().to_numpy()
        first = part.drop_duplicates(subset=["channel", "tag", "week"])
        order = part.groupby(["channel", "tag", "week"], sort=False).ngroup().loc[first.index].to_numpy()
        hists = {}
        for column in ("frt_h", "resolution_h"):
            values = part[column].to_numpy(dtype=float)
            ok = ~np.isnan(values)
            matrix = np.zeros((int(keys.max()) + 1 if keys.size else 0, N_BUCKETS), dtype=np.int64)
            np.add.at(matrix, (keys[ok], buckets(values[ok])), 1)
            hists[column] = matrix
        times += [
            TicketTimesWeekly(
                product_id=product_id,
                channel=channel,
                tag=tag,
                week=week,
                frt=encode(hists["frt_h"][k]),
                resolution=encode(hists["resolution_h"][k]),
            )
            for k, channel, tag, week in zip(
                order, first["channel"], first["tag"], first["week"], strict=True
            )
        ]
    solved_day = frame["solved_at"].dt.tz_convert("UTC").dt.date
    settled_day = [None if pd.isna(s) else max(s, d) for s, d in zip(solved_day, frame["day"], strict=True)]
    settled = (
        pd.DataFrame({"opened_day": frame["day"], "settled_day": settled_day})
        .groupby(["opened_day", "settled_day"], dropna=False)
        .size()
    )
    TicketRollup.objects.bulk_create(rollups, batch_size=BATCH)
    TicketTimesWeekly.objects.bulk_create(times, batch_size=BATCH)
    TicketSettledDaily.objects.bulk_create(
        [
            TicketSettledDaily(
                product_id=product_id,
                opened_day=opened_day,
                settled_day=None if pd.isna(settled_day) else settled_day,
                n=int(n),
            )
            for (opened_day, settled_day), n in settled.items()
        ],
        batch_size=BATCH,
    )


# --- Reads for the pages ---------------------------------------------------------------------------


def _scoped(qs: Any, filters: Filters | None, day_field: str) -> Any:
    from .selectors import scope_products

    qs = scope_products(qs, filters)
    if filters is not None:
        qs = qs.filter(filters.window(day_field, dates=True))
    return qs


def _week_window(filters: Filters | None) -> Q:
    if filters is None:
        return Q()
    first, last = (EARLIEST, latest_plausible()) if filters.all_time else (filters.start, filters.end)
    return Q(week__gte=monday(first), week__lte=last)


WEEKLY_COLUMNS = [
    "week",
    "volume",
    "backlog",
    "frt_p50",
    "frt_p90",
    "res_p50",
    "res_p90",
    "csat",
    "csat_good",
    "sentiment",
]


def _ratio(total: Any, n: Any) -> float | None:
    return float(total) / n if n else None


def weekly(filters: Filters | None) -> pd.DataFrame:
    """Per week (Monday, UTC): tickets opened, backlog at the week's end, first-response and resolution
    median and p90 in (business) hours, mean CSAT and share of 4-5 ratings, mean sentiment."""
    days = pd.DataFrame(
        list(
            _scoped(TicketRollup.objects.filter(tag=""), filters, "day")
            .values("day")
            .annotate(
                volume=Sum("opened"),
                csat_sum=Sum("csat_sum"),
                csat_n=Sum("csat_n"),
                csat_good=Sum("csat_good"),
                sentiment_sum=Sum("sentiment_sum"),
                sentiment_n=Sum("sentiment_n"),
            )
            .order_by("day")
        )
    )
    if days.empty or not days["volume"].sum():
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    days["week"] = [monday(d) for d in days["day"]]
    g = days.groupby("week").sum(numeric_only=True)
    weeks = pd.date_range(pd.Timestamp(min(g.index)), pd.Timestamp(max(g.index)), freq="7D").date
    g = g.reindex(weeks, fill_value=0)
    hist = _hists(filters, "week", tag="")
    out = pd.DataFrame({"week": pd.to_datetime(list(weeks)).tz_localize("UTC")})
    out["volume"] = g["volume"].to_numpy(dtype=float)
    # Backlog at each week's end: opened in range before it, minus those settled before it.
    settled = list(
        _scoped(TicketSettledDaily.objects.filter(settled_day__isnull=False), filters, "opened_day")
        .values("settled_day")
        .annotate(n=Sum("n"))
        .values_list("settled_day", "n")
    )
    ends = np.array([w + timedelta(days=7) for w in weeks], dtype="datetime64[D]")
    day_arr = np.array(list(days["day"]), dtype="datetime64[D]")
    opened_cum = np.concatenate([[0], np.cumsum(days["volume"].to_numpy())])
    opened_before = opened_cum[np.searchsorted(day_arr, ends, side="left")]
    if settled:
        settled.sort()
        s_days = np.array([d for d, _ in settled], dtype="datetime64[D]")
        s_cum = np.concatenate([[0], np.cumsum([n for _, n in settled])])
        settled_before = s_cum[np.searchsorted(s_days, ends, side="left")]
    else:
        settled_before = np.zeros(len(ends), dtype=np.int64)
    out["backlog"] = opened_before - settled_before
    for column, key, q in (
        ("frt_p50", "frt", 0.5),
        ("frt_p90", "frt", 0.9),
        ("res_p50", "resolution", 0.5),
        ("res_p90", "resolution", 0.9),
    ):
        values = [percentile(hist[key][w], q) if w in hist[key] else None for w in weeks]
        out[column] = np.array([np.nan if v is None else v for v in values], dtype=float)
    csat_n = g["csat_n"].to_numpy(dtype=float)
    sent_n = g["sentiment_n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["csat"] = np.where(csat_n > 0, g["csat_sum"].to_numpy(dtype=float) / csat_n, np.nan)
        out["csat_good"] = np.where(csat_n > 0, g["csat_good"].to_numpy(dtype=float) / csat_n, np.nan)
        out["sentiment"] = np.where(sent_n > 0, g["sentiment_sum"].to_numpy(dtype=float) / sent_n, np.nan)
    return out[WEEKLY_COLUMNS]


def _hists(filters: Filters | None, by: str, tag: str | None) -> dict[str, dict[Any, np.ndarray]]:
    """Summed first-response and resolution histograms per week, channel or tag."""
    qs = TicketTimesWeekly.objects.filter(_week_window(filters))
    from .selectors import scope_products

    qs = scope_products(qs, filters)
    qs = qs.filter(tag="") if tag == "" else qs.exclude(tag="")
    out: dict[str, dict[Any, np.ndarray]] = {"frt": {}, "resolution": {}}
    for key, frt, res in qs.values_list(by, "frt", "resolution").iterator(chunk_size=2000):
        for name, blob in (("frt", frt), ("resolution", res)):
            if blob:
                counts = decode(blob)
                if key in out[name]:
                    out[name][key] += counts
                else:
                    out[name][key] = counts
    return out


def breakdown(filters: Filters | None, by: str) -> list[dict[str, Any]]:
    """Totals per tag (a ticket with two tags counts for both) or per channel, largest first, top 30."""
    qs = _scoped(TicketRollup.objects.all(), filters, "day")
    qs = qs.exclude(tag="") if by == "tag" else qs.filter(tag="").exclude(channel="")
    rows = list(
        qs.values(by)
        .annotate(
            volume=Sum("opened"),
            open=Sum("still_open"),
            csat_sum=Sum("csat_sum"),
            csat_n=Sum("csat_n"),
            sentiment_sum=Sum("sentiment_sum"),
            sentiment_n=Sum("sentiment_n"),
        )
        .order_by("-volume", by)[:30]
    )
    if not rows:
        return []
    hist = _hists(filters, by, tag=None if by == "tag" else "")
    out = []
    for row in rows:
        key = row[by]
        frt, res = hist["frt"].get(key), hist["resolution"].get(key)
        out.append(
            {
                "key": key,
                "volume": int(row["volume"]),
                "open": int(row["open"]),
                "frt_p50": percentile(frt, 0.5) if frt is not None else None,
                "frt_p90": percentile(frt, 0.9) if frt is not None else None,
                "res_p50": percentile(res, 0.5) if res is not None else None,
                "res_p90": percentile(res, 0.9) if res is not None else None,
                "csat": _ratio(row["csat_sum"], row["csat_n"]),
                "sentiment": _ratio(row["sentiment_sum"], row["sentiment_n"]),
            }
        )
    return out
