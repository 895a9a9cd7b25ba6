"""Projecting a key result to the end of its period: a linear trend with a weekly pattern, and a
prediction interval. Plain numbers in, a dataclass out; nothing here touches the ORM.

The model, fitted by ordinary least squares on the last FIT_DAYS days of daily values up to the last
day with data:

    value(day) = a + b * day + (one effect per weekday, when there are 4+ weeks of data) + noise

The key result's value at the period's end is a sum, a mean or the last value of the daily values, so
the projection adds the observed days to the predicted remaining ones. Its prediction interval comes
from the textbook OLS formula: with A = (X'X)^-1 and g the sum of the design rows of the remaining days,

    Var(sum of the remaining days) = s^2 * (m + g' A g)

(m days of fresh noise plus the uncertainty of the fitted line), and Student's t with n - p degrees of
freedom. A mean divides that by the number of days; "last" is one day: s^2 * (1 + x' A x).

A key result is **at risk** when its target lies outside the interval on the unfavourable side: above
the upper bound when the target is an increase, below the lower bound when it is a decrease. Inside
the interval (or beyond it on the good side) it is on track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

FIT_DAYS = 56  # the trend is fitted on the last eight weeks of data
MIN_POINTS = 10  # fewer daily values: no projection ("not enough data")
WEEKLY_MIN_POINTS = 28  # from four weeks on, each weekday gets its own level
LEVEL = 0.95


@dataclass(frozen=True)
class Projection:
    aggregation: str
    period_start: date
    period_end: date
    last_day: date  # the last day with data
    observed: float | None  # the key result's value from the observed days alone
    projected: float  # at the period's end
    low: float
    high: float
    slope_per_day: float
    points_fitted: int
    weekly: bool
    level: float = LEVEL
    # Chart paths: (ISO day, value) observed; (ISO day, projected, low, high) ahead.
    observed_path: list[tuple[str, float]] = field(default_factory=list)
    projected_path: list[tuple[str, float, float, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "aggregation": self.aggregation,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "last_day": self.last_day.isoformat(),
            "observed": self.observed,
            "projected": self.projected,
            "low": self.low,
            "high": self.high,
            "slope_per_day": self.slope_per_day,
            "points_fitted": self.points_fitted,
            "weekly": self.weekly,
            "level": self.level,
            "observed_path": [list(p) for p in self.observed_path],
            "projected_path": [list(p) for p in self.projected_path],
        }


def _design(days: np.ndarray, weekdays: np.ndarray, weekly: bool) -> np.ndarray:
    cols = [np.ones_like(days, dtype=float), days.astype(float)]
    if weekly:
        cols += [(weekdays == k).astype(float) for k in range(1, 7)]  # Monday is the baseline
    return np.column_stack(cols)


def _running(values: np.ndarray, aggregation: str) -> np.ndarray:
    if aggregation == "sum":
        return np.cumsum(values)
    if aggregation == "mean":
        return np.cumsum(values) / np.arange(1, len(values) + 1)
    return values


def project(
    daily: pd.Series, period_start: date, period_end: date, aggregation: str, *, level: float = LEVEL
) -> Projection | None:
    """Project `daily` (a day-indexed series of daily values) to `period_end`; None with too little data."""
    if daily.empty:
        return None
    series = daily.dropna()
    series.index = pd.DatetimeIndex(series.index).normalize()
    series = series.groupby(level=0).sum().sort_index()
    series = series[series.index <= pd.Timestamp(period_end)]
    if series.empty:
        return None
    last_day = series.index[-1].date()
    fit = series[series.index > pd.Timestamp(last_day - timedelta(days=FIT_DAYS))]
    n = len(fit)
    if n < MIN_POINTS:
        return None
    weekly = n >= WEEKLY_MIN_POINTS
    origin = pd.Timestamp(last_day)
    fit_days = ((fit.index - origin).days).to_numpy()
    X = _design(fit_days, fit.index.day_of_week.to_numpy(), weekly)
    y = fit.to_numpy(dtype=float)
    p = X.shape[1]
    if n - p < 3:
        weekly = False
        X = _design(fit_days, fit.index.day_of_week.to_numpy(), False)
        p = 2
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = n - p
    s2 = float(resid @ resid) / dof
    A = np.linalg.pinv(X.T @ X)
    t = float(sps.t.ppf(0.5 + level / 2, dof))

    in_period = series[series.index >= pd.Timestamp(period_start)]
    obs_values = in_period.to_numpy(dtype=float)
    obs_sum, obs_n = float(obs_values.sum()), len(obs_values)
    observed = None
    if obs_n:
        observed = float(_running(obs_values, aggregation)[-1])
    observed_path = [
        (d.date().isoformat(), float(v))
        for d, v in zip(in_period.index, _running(obs_values, aggregation), strict=True)
    ]

    first_future = max(last_day + timedelta(days=1), period_start)
    future = pd.date_range(first_future, period_end, freq="D")
    m = len(future)
    if m == 0:  # the period is over and fully observed
        value = observed if observed is not None else 0.0
        return Projection(
            aggregation,
            period_start,
            period_end,
            last_day,
            observed,
            value,
            value,
            value,
            float(beta[1]),
            n,
            weekly,
            level,
            observed_path,
            [],
        )
    Xf = _design(((future - origin).days).to_numpy(), future.day_of_week.to_numpy(), weekly)
    yhat = Xf @ beta
    k = np.arange(1, m + 1, dtype=float)
    if aggregation in {"sum", "mean"}:
        G = np.cumsum(Xf, axis=0)  # design of "the sum of the first k remaining days"
        var = s2 * (k + np.einsum("ij,jk,ik->i", G, A, G))
        centre = obs_sum + np.cumsum(yhat)
        half = t * np.sqrt(np.maximum(var, 0.0))
        if aggregation == "mean":
            days = obs_n + k
            centre, half = centre / days, half / days
    else:
        var = s2 * (1 + np.einsum("ij,jk,ik->i", Xf, A, Xf))
        centre = yhat
        half = t * np.sqrt(np.maximum(var, 0.0))
    path = [
        (d.date().isoformat(), float(c), float(c - h), float(c + h))
        for d, c, h in zip(future, centre, half, strict=True)
    ]
    return Projection(
        aggregation,
        period_start,
        period_end,
        last_day,
        observed,
        float(centre[-1]),
        float(centre[-1] - half[-1]),
        float(centre[-1] + half[-1]),
        float(beta[1]),
        n,
        weekly,
        level,
        observed_path,
        path,
    )


def at_risk(start_value: float, target: float, low: float, high: float) -> bool:
    """The target is outside the interval on the unfavourable side."""
    if target >= start_value:
        return target > high
    return target < low


def explain(projection: Projection, start_value: float, target: float, unit: str = "") -> str:
    """One paragraph a PM can check: what was fitted, what it projects, and why the verdict."""

    def num(x: float) -> str:
        if not math.isfinite(x):
            return "n/a"
        text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"
        return f"{text} {unit}".strip()

    what = {"sum": "the period's total", "mean": "the period's average", "last": "the value"}.get(
        projection.aggregation, "the value"
    )
    fitted = (
        f"A straight line ({projection.slope_per_day:+,.3g} a day"
        + (", with a weekly pattern" if projection.weekly else "")
        + f") fitted to the last {projection.points_fitted} daily values up to {projection.last_day:%-d %b %Y}"
    )
    projected = (
        f"projects {what} by {projection.period_end:%-d %b %Y} at {num(projection.projected)} "
        f"({projection.level:.0%} interval {num(projection.low)} to {num(projection.high)})"
    )
    if at_risk(start_value, target, projection.low, projection.high):
        side = "above" if target >= start_value else "below"
        verdict = f"The target {num(target)} is {side} that interval: at risk."
    else:
        verdict = f"The target {num(target)} is within reach: on track."
    return f"{fitted} {projected}. {verdict}"
