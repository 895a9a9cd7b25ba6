"""The expected band stored with each anomaly (`InsightBand`): written by the detection run from the frame
it already scored, read by the anomaly page."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from insights.models import InsightBand

BEFORE = pd.Timedelta(days=120)  # history shown before the anomaly
AFTER = pd.Timedelta(days=45)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) or math.isinf(out) else round(out, 4)


def store_bands(scored: pd.DataFrame, written: Iterable[tuple[int, str, pd.Timestamp, pd.Timestamp]]) -> int:
    """One band per (insight id, series id, start, end), cut from the scored long frame
    (series_id, ts, value, expected, lower, upper, is_anomaly). Returns how many were stored."""
    wanted = list(written)
    if scored.empty or not wanted:
        return 0
    needed = {sid for _, sid, _, _ in wanted}
    by_series = {
        sid: g.sort_values("ts") for sid, g in scored[scored["series_id"].isin(needed)].groupby("series_id")
    }
    bands = []
    for insight_id, series_id, start, end in wanted:
        group = by_series.get(series_id)
        if group is None or group.empty:
            continue
        ts = pd.to_datetime(group["ts"])
        window = group[(ts >= start - BEFORE) & (ts <= end + AFTER)]
        steps = pd.to_datetime(group["ts"]).diff().dropna()
        step = max(int(steps.min().days), 1) if len(steps) else 1
        points = [
            [f"{pd.Timestamp(t):%Y-%m-%dT%H:%M}", _num(v), _num(e), _num(lo), _num(hi), bool(a)]
            for t, v, e, lo, hi, a in zip(
                window["ts"],
                window["value"],
                window["expected"],
                window["lower"],
                window["upper"],
                window["is_anomaly"].fillna(False),
                strict=True,
            )
        ]
        bands.append(InsightBand(insight_id=insight_id, step_days=step, points=points))
    InsightBand.objects.bulk_create(
        bands,
        update_conflicts=True,
        unique_fields=["insight"],
        update_fields=["step_days", "points", "computed_at"],
    )
    return len(bands)


def band_frame(band: InsightBand) -> pd.DataFrame:
    """The stored band as a frame indexed by time: actual, expected, lower, upper, is_anomaly."""
    frame = pd.DataFrame(band.points, columns=["ts", "actual", "expected", "lower", "upper", "is_anomaly"])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts")))
    for column in ("actual", "expected", "lower", "upper"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["is_anomaly"] = frame["is_anomaly"].astype(bool)
    return frame
