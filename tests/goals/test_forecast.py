"""The projection of a key result: at risk on a planted decline, on track on a clean series."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from productops.goals import forecast

START, END = date(2026, 10, 1), date(2026, 12, 31)
LAST = date(2026, 11, 22)


def _series(values: np.ndarray, last: date = LAST) -> pd.Series:
    days = pd.date_range(end=pd.Timestamp(last), periods=len(values), freq="D")
    return pd.Series(values, index=days)


def _weekly(n: int) -> np.ndarray:
    days = pd.date_range(end=pd.Timestamp(LAST), periods=n, freq="D")
    return np.where(days.day_of_week >= 5, 0.7, 1.0)


def test_a_planted_decline_puts_a_growth_target_at_risk() -> None:
    rng = np.random.default_rng(3)
    n = 120
    # Flat at 1000 with a weekly pattern, then a drift down of 4 a day over the last 60 days.
    level = np.full(n, 1000.0)
    level[60:] -= 4.0 * np.arange(1, 61)
    values = level * _weekly(n) + rng.normal(0, 15, n)
    p = forecast.project(_series(values), START, END, "last")
    assert p is not None
    assert p.slope_per_day < -2  # the fitted line found the decline
    # The truth at the period's end (a weekday factor of 1: 31 Dec 2026 is a Thursday) is in the interval.
    truth = 1000 - 4.0 * (60 + (END - LAST).days)
    assert p.low <= truth <= p.high
    assert forecast.at_risk(1000, 1050, p.low, p.high)  # +5% against a decline: at risk
    assert "at risk" in forecast.explain(p, 1000, 1050)


def test_a_clean_series_with_a_reachable_target_is_on_track() -> None:
    rng = np.random.default_rng(4)
    n = 120
    level = 1000 + 1.0 * np.arange(n)  # steady growth of 1 a day
    values = level * _weekly(n) + rng.normal(0, 15, n)
    p = forecast.project(_series(values), START, END, "last")
    assert p is not None
    assert 0.5 < p.slope_per_day < 1.5
    truth = 1000 + (n - 1) + (END - LAST).days
    assert p.low <= truth <= p.high
    assert not forecast.at_risk(1000, truth, p.low, p.high)
    assert not forecast.at_risk(1000, 1100, p.low, p.high)
    # A target far above the trend is at risk even on a clean series.
    assert forecast.at_risk(1000, truth * 1.5, p.low, p.high)


def test_a_sum_adds_the_observed_days_to_the_projected_ones() -> None:
    rng = np.random.default_rng(5)
    values = 100 + rng.normal(0, 5, 90)
    p = forecast.project(_series(values), START, END, "sum")
    assert p is not None
    observed_days = (LAST - START).days + 1
    assert p.observed == pytest.approx(values[-observed_days:].sum())
    remaining = (END - LAST).days
    assert p.projected == pytest.approx(p.observed + 100 * remaining, rel=0.02)
    assert p.low < p.projected < p.high
    # Cumulative path: the last projected point is the projection.
    assert p.projected_path[-1][1] == pytest.approx(p.projected)
    assert next(d for d, *_ in p.projected_path) == (LAST + timedelta(days=1)).isoformat()


def test_a_decrease_target_is_at_risk_below_the_interval() -> None:
    assert forecast.at_risk(40, 0, 5, 15)  # wants 0, the best case is 5
    assert not forecast.at_risk(40, 10, 5, 15)
    assert not forecast.at_risk(40, 20, 5, 15)  # beyond the interval on the good side


def test_too_little_data_gives_no_projection() -> None:
    assert forecast.project(_series(np.ones(5)), START, END, "mean") is None
    assert forecast.project(pd.Series(dtype=float), START, END, "mean") is None
