"""Support analytics: volume, backlog, first-response and resolution times (median and p90) and CSAT,
per product, tag and channel, as weekly series.

Business hours: settings.SUPPORT_BUSINESS_HOURS maps a product slug (or "*" for every product) to
{"start": 9, "end": 17, "weekmask": "1111100", "tz": "Europe/Berlin"}. Products without an entry
count calendar hours. Durations are computed vectorised: each timestamp is turned into "business
seconds since an epoch" and the difference of two such clocks is the business time between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from productops.signals.models import SupportTicket
from productops.ui.filters import Filters

from .selectors import _week_floor, _zero_fill, scope_products
from .support_rollup import WEEKLY_COLUMNS

EPOCH = np.datetime64("2000-01-03", "D")  # a Monday


def business_hours_config(product_slug: str | None) -> dict[str, Any] | None:
    config = getattr(settings, "SUPPORT_BUSINESS_HOURS", {}) or {}
    return config.get(product_slug or "") or config.get("*")


def business_clock(ts: pd.Series, config: dict[str, Any]) -> np.ndarray:
    """Business seconds from EPOCH to each timestamp (NaT -> NaN)."""
    start_h, end_h = float(config.get("start", 9)), float(config.get("end", 17))
    weekmask = config.get("weekmask", "1111100")
    local = pd.to_datetime(ts, utc=True).dt.tz_convert(config.get("tz", "UTC")).dt.tz_localize(None)
    valid = local.notna().to_numpy()
    out = np.full(len(local), np.nan)
    if not valid.any():
        return out
    values = local[valid].to_numpy(dtype="datetime64[s]")
    days = values.astype("datetime64[D]")
    seconds_in_day = (values - days).astype(np.int64)
    day_len = (end_h - start_h) * 3600
    full_days = np.busday_count(EPOCH, days, weekmask=weekmask)
    is_busday = np.is_busday(days, weekmask=weekmask)
    partial = np.clip(seconds_in_day - start_h * 3600, 0, day_len) * is_busday
    out[valid] = full_days * day_len + partial
    return out


def elapsed_hours(start: pd.Series, end: pd.Series, config: dict[str, Any] | None) -> np.ndarray:
    if config is None:
        delta = pd.to_datetime(end, utc=True) - pd.to_datetime(start, utc=True)
        return delta.dt.total_seconds().to_numpy() / 3600
    return (business_clock(end, config) - business_clock(start, config)) / 3600


_ANY = object()


def tickets_frame(
    filters: Filters | None = None,
    product_ids: Iterable[int] | None = None,
    *,
    product_id: Any = _ANY,
    since: date | None = None,
) -> pd.DataFrame:
    """Raw tickets with first-response and resolution hours (for the rollups and the anomaly series;
    pages read insights.feedback.support_rollup). `product_id` (None for no product) and `since` (a day,
    UTC) narrow it further."""
    qs = SupportTicket.objects.all()
    if product_ids:
        qs = qs.filter(product_id__in=list(product_ids))
    if product_id is not _ANY:
        qs = qs.filter(product_id=product_id) if product_id is not None else qs.filter(product__isnull=True)
    if since is not None:
        qs = qs.filter(opened_at__gte=datetime.combine(since, time.min, tzinfo=UTC))
    qs = scope_products(qs, filters)
    if filters is not None:
        qs = qs.filter(filters.window("opened_at"))
    rows = list(
        qs.values_list(
            "id",
            "product__slug",
            "tags",
            "channel",
            "opened_at",
            "first_response_at",
            "solved_at",
            "csat_rating",
            "sentiment",
        )
    )
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "product",
            "tags",
            "channel",
            "opened_at",
            "first_response_at",
            "solved_at",
            "csat",
            "sentiment",
        ],
    )
    for col in ("opened_at", "first_response_at", "solved_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["frt_h"] = np.nan
    frame["resolution_h"] = np.nan
    for product, idx in frame.groupby("product", dropna=False).groups.items():
        config = business_hours_config(None if pd.isna(product) else str(product))
        part = frame.loc[idx]
        frame.loc[idx, "frt_h"] = elapsed_hours(part["opened_at"], part["first_response_at"], config)
        frame.loc[idx, "resolution_h"] = elapsed_hours(part["opened_at"], part["solved_at"], config)
    return frame


def weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """Per week: volume, backlog at week end, FRT and resolution median / p90 (hours), CSAT (mean 1-5
    and share of 4-5 ratings)."""
    cols = WEEKLY_COLUMNS
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame = frame.assign(week=_week_floor(frame["opened_at"]))
    g = frame.groupby("week")
    out = pd.DataFrame(
        {
            "volume": g.size(),
            "frt_p50": g["frt_h"].median(),
            "frt_p90": g["frt_h"].quantile(0.9),
            "res_p50": g["resolution_h"].median(),
            "res_p90": g["resolution_h"].quantile(0.9),
            "csat": g["csat"].mean(),
            "csat_good": g["csat"].apply(
                lambda s: float((s.dropna() >= 4).mean()) if s.notna().any() else np.nan
            ),
            "sentiment": g["sentiment"].mean(),
        }
    )
    weeks = pd.date_range(out.index.min(), out.index.max(), freq="7D")
    out = out.reindex(weeks)
    out["volume"] = out["volume"].fillna(0)
    # Backlog at the end of each week: opened so far minus solved so far (searchsorted, no loop per ticket).
    ends = (weeks + pd.Timedelta(days=7)).to_numpy(dtype="datetime64[ns]")
    opened = np.sort(frame["opened_at"].dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"))
    solved = frame["solved_at"].dropna().dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    solved = np.sort(solved)
    out["backlog"] = np.searchsorted(opened, ends, side="left") - np.searchsorted(solved, ends, side="left")
    out.index.name = "week"
    return out.reset_index()[cols]


def breakdown(frame: pd.DataFrame, by: str) -> list[dict[str, Any]]:
    """Totals per tag (a ticket with two tags counts for both) or per channel."""
    if frame.empty:
        return []
    data = frame.explode("tags").rename(columns={"tags": "tag"}) if by == "tag" else frame
    data = data[data[by].notna() & (data[by] != "")]
    g = data.groupby(by)
    table = pd.DataFrame(
        {
            "volume": g.size(),
            "open": g["solved_at"].apply(lambda s: int(s.isna().sum())),
            "frt_p50": g["frt_h"].median(),
            "frt_p90": g["frt_h"].quantile(0.9),
            "res_p50": g["resolution_h"].median(),
            "res_p90": g["resolution_h"].quantile(0.9),
            "csat": g["csat"].mean(),
            "sentiment": g["sentiment"].mean(),
        }
    ).sort_values("volume", ascending=False)
    return [
        {"key": key, **{k: (None if pd.isna(v) else v) for k, v in row.items()}}
        for key, row in table.head(30).iterrows()
    ]


def support_series_frame(product_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """THE CONTRACT for the anomaly detector: weekly support series as a long (series_id, ts, value)
    frame. series_id is "support:<product>:<measure>" with measure volume, backlog, frt_p50_h,
    resolution_p50_h, csat; and "support:<product>:tag:<tag>:volume" per tag. Zero-filled volumes."""
    frame = tickets_frame(product_ids=product_ids)
    if frame.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"])
    parts = []
    for product, group in frame.groupby(frame["product"].fillna("none")):
        w = weekly(group)
        for column, measure in (
            ("volume", "volume"),
            ("backlog", "backlog"),
            ("frt_p50", "frt_p50_h"),
            ("res_p50", "resolution_p50_h"),
            ("csat", "csat"),
        ):
            part = w[["week", column]].dropna().rename(columns={"week": "ts", column: "value"})
            part.insert(0, "series_id", f"support:{product}:{measure}")
            parts.append(part)
        tags = group.explode("tags").dropna(subset=["tags"])
        if not tags.empty:
            tags = tags.assign(ts=_week_floor(tags["opened_at"]))
            counts = tags.groupby(["tags", "ts"]).size().rename("value").reset_index()
            counts["series_id"] = f"support:{product}:tag:" + counts["tags"].astype(str) + ":volume"
            parts.append(_zero_fill(counts[["series_id", "ts", "value"]], end=w["week"].max()))
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype(float)
    return out[["series_id", "ts", "value"]]
