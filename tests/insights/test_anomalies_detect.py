"""Quality of the pure detector on synthetic series: one test per pattern, plus causality and batching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insights.anomalies import detect, detect_many
from insights.anomalies.events import find_events
from tests.insights.anomaly_synthetic import WEEKLY, make_matrix

DAYS = 240


def seasonal(seed: int = 1, days: int = DAYS, level: float = 1000.0, noise: float = 0.03) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    values = level * WEEKLY[t % 7] * (1 + rng.normal(0, noise, days))
    return pd.Series(values, index=pd.date_range("2025-01-06", periods=days, freq="D"))


def flagged_days(result: pd.DataFrame) -> list[int]:
    return list(np.flatnonzero(result["is_anomaly"].to_numpy()))


def test_output_shape_and_columns() -> None:
    s = seasonal()
    result = detect(s)
    assert list(result.columns) == ["expected", "lower", "upper", "score", "is_anomaly"]
    assert result.index.equals(s.index)
    assert result["score"].between(0, 1).all()
    assert result["is_anomaly"].dtype == bool
    assert result.attrs["not_enough_history"] is False


def test_seasonal_only_flags_nothing_and_learns_the_week() -> None:
    s = seasonal(seed=2)
    result = detect(s)
    assert flagged_days(result) == []
    late = result.iloc[-28:]
    # The expected values follow the weekly pattern (weekend low), not a flat line.
    weekend = late[late.index.day_of_week >= 5]["expected"].mean()
    weekday = late[late.index.day_of_week < 5]["expected"].mean()
    assert weekend < 0.8 * weekday
    assert ((late["lower"] <= s.iloc[-28:]) & (s.iloc[-28:] <= late["upper"])).all()


def test_spike_is_flagged_on_its_day() -> None:
    s = seasonal(seed=3)
    s.iloc[150] *= 1.8
    result = detect(s)
    assert flagged_days(result) == [150]
    assert result["score"].iloc[150] > 0.7
    assert result["score"].iloc[150] > 3 * result["score"].drop(s.index[150]).max()


def test_dip_is_flagged_and_down_only_ignores_spikes() -> None:
    s = seasonal(seed=4)
    s.iloc[120:123] *= 0.5
    s.iloc[180] *= 2.0
    both = detect(s)
    assert flagged_days(both) == [120, 121, 122, 180]
    down = detect(s, direction="down")
    assert flagged_days(down) == [120, 121, 122]
    assert down["score"].iloc[180] == 0.0


def test_level_shift_becomes_the_new_normal() -> None:
    s = seasonal(seed=5)
    s.iloc[140:] *= 1.6
    result = detect(s)
    days = flagged_days(result)
    assert days and days[0] == 140
    # Flagged while the shift is news (about a week), then normal again for the rest of the series.
    assert max(days) < 150
    assert not result["is_anomaly"].iloc[150:].any()
    assert result["expected"].iloc[-7:].mean() == pytest.approx(s.iloc[-7:].mean(), rel=0.08)


def test_slow_drift_is_flagged_while_small_steps_stay_inside_the_band() -> None:
    s = seasonal(seed=6)
    t = np.arange(DAYS)
    ramp = np.clip((t - 120) / 40.0, 0, 1)
    drifted = s * (1 - 0.35 * ramp)
    result = detect(drifted)
    days = flagged_days(result)
    assert days, "a 35% drift over 40 days must be flagged"
    assert 125 <= days[0] <= 160
    # No single day of the drift leaves the daily band: it is the accumulation that is flagged.
    z = ((drifted - result["expected"]) / ((result["upper"] - result["expected"]) / 4)).iloc[120:160]
    assert z.abs().median() < 4


def test_trend_alone_is_normal() -> None:
    s = seasonal(seed=7)
    trend = pd.Series(1 + np.arange(DAYS) * 0.003, index=s.index)
    assert flagged_days(detect(s * trend)) == []


def test_missing_points_are_skipped_not_flagged() -> None:
    s = seasonal(seed=8)
    s.iloc[100:110] = np.nan
    gappy = s.drop(s.index[[130, 131, 170]])  # rows absent altogether
    result = detect(gappy)
    assert result.index.equals(gappy.index)
    assert flagged_days(result) == []
    assert not result["is_anomaly"].iloc[100:110].any()
    assert (result["score"].iloc[100:110] == 0).all()
    assert result["expected"].iloc[100:110].notna().all()


def test_short_history_says_so_and_flags_nothing() -> None:
    s = seasonal(seed=9, days=18)
    s.iloc[-1] *= 5
    result = detect(s)
    assert result.attrs["not_enough_history"] is True
    assert result.attrs["history_needed"] > 18
    assert not result["is_anomaly"].any()
    assert (result["score"] == 0).all()


def test_small_poisson_counts_and_zeros() -> None:
    rng = np.random.default_rng(10)
    counts = pd.Series(rng.poisson(1.5, DAYS).astype(float), index=pd.date_range("2025-01-01", periods=DAYS))
    assert flagged_days(detect(counts)) == []
    counts.iloc[200] = 25
    assert 200 in flagged_days(detect(counts))
    zeros = pd.Series(0.0, index=counts.index)
    zeros.iloc[150] = 9
    result = detect(zeros)
    assert flagged_days(result) == [150]
    assert (result["lower"].dropna() >= 0).all()


def test_ratio_metric() -> None:
    rng = np.random.default_rng(11)
    rate = pd.Series(0.12 + rng.normal(0, 0.004, DAYS), index=pd.date_range("2025-01-01", periods=DAYS))
    rate.iloc[190:193] = 0.07
    assert flagged_days(detect(rate)) == [190, 191, 192]


def test_hourly_series_detects_daily_seasonality() -> None:
    rng = np.random.default_rng(12)
    hours = 24 * 40
    idx = pd.date_range("2025-03-01", periods=hours, freq="h")
    daily = 1 + 0.5 * np.sin(2 * np.pi * np.arange(hours) / 24)
    s = pd.Series(200 * daily * (1 + rng.normal(0, 0.03, hours)), index=idx)
    assert flagged_days(detect(s)) == []
    s.iloc[800] *= 0.3
    assert flagged_days(detect(s)) == [800]


def test_sensitivity_orders_the_verdicts() -> None:
    s = seasonal(seed=13)
    s.iloc[150] *= 1.25
    counts = {
        level: int(detect(s, sensitivity=level)["is_anomaly"].sum()) for level in ("low", "medium", "high")
    }
    assert counts["low"] <= counts["medium"] <= counts["high"]
    assert counts["high"] >= 1
    with pytest.raises(ValueError, match="unknown value"):
        detect(s, sensitivity="extreme")


@pytest.mark.parametrize("cut", [60, 121, 150, 200])
def test_causal_first_points_do_not_change_when_later_points_arrive(cut: int) -> None:
    s = seasonal(seed=14)
    s.iloc[150:] *= 1.5
    s.iloc[100] *= 2
    full = detect(s)
    prefix = detect(s.iloc[:cut])
    pd.testing.assert_frame_equal(full.iloc[:cut], prefix, check_exact=True)


def test_detect_many_matches_detect_per_series() -> None:
    index, values, _ = make_matrix(12, length=200, seed=5)
    values[2, 50:60] = np.nan
    frames = []
    for i in range(12):
        s = pd.Series(values[i], index=index)
        if i % 4 == 0:
            s = s.iloc[i * 5 :]  # series start on different days
        frames.append(pd.DataFrame({"series_id": f"s{i}", "ts": s.index, "value": s.to_numpy()}))
    frames.append(pd.DataFrame({"series_id": "short", "ts": index[:10], "value": np.arange(10.0)}))
    long = pd.concat(frames, ignore_index=True)
    sens = {"s1": "high", "s2": "low"}
    many = detect_many(long, sensitivity=sens)
    assert many.attrs["not_enough_history"] == ["short"]
    for sid, group in long.groupby("series_id"):
        one = detect(
            pd.Series(group["value"].to_numpy(), index=pd.DatetimeIndex(group["ts"])),
            sensitivity=sens.get(sid, "medium"),
        )
        got = many[many["series_id"] == sid]
        for column in ("expected", "lower", "upper", "score"):
            assert np.array_equal(one[column].to_numpy(), got[column].to_numpy(), equal_nan=True), (
                sid,
                column,
            )
        assert np.array_equal(one["is_anomaly"].to_numpy(), got["is_anomaly"].to_numpy().astype(bool)), sid


def test_detect_many_accepts_a_wide_matrix() -> None:
    index, values, truths = make_matrix(6, length=300, seed=8, planted_share=1.0)
    wide = pd.DataFrame(values.T, index=index, columns=[f"w{i}" for i in range(6)])
    result = detect_many(wide)
    assert len(result) == 6 * 300
    for i, truth in enumerate(truths):
        flags = result[result["series_id"] == f"w{i}"]["is_anomaly"].to_numpy()
        assert flags[truth.start : truth.end + 31].any(), truth


def test_events_merge_contiguous_points() -> None:
    s = seasonal(seed=15)
    s.iloc[120:123] *= 0.5
    s.iloc[180] *= 2.0
    scored = detect_many(pd.DataFrame({"series_id": "a", "ts": s.index, "value": s.to_numpy()}))
    events = find_events(scored)
    assert [(e.start, e.end, e.direction) for e in events] == [
        (s.index[120], s.index[122], "down"),
        (s.index[180], s.index[180], "up"),
    ]
    dip = events[0]
    assert dip.size_pct == pytest.approx(-0.5, abs=0.08)
    assert dip.points == 3


def test_weekly_series_level_drop_is_flagged_then_normal() -> None:
    rng = np.random.default_rng(16)
    weeks = 80
    nps = pd.Series(
        35 + rng.normal(0, 6, weeks), index=pd.date_range("2025-01-06", periods=weeks, freq="W-MON")
    )
    assert flagged_days(detect(nps)) == []
    nps.iloc[60:] -= 45
    days = flagged_days(detect(nps))
    assert days and days[0] == 60 and max(days) < 66


def test_drivers_name_the_disproportionate_part_only() -> None:
    from insights.anomalies.events import Event, drivers

    ts = pd.date_range("2025-01-01", periods=3)
    total = Event("t", ts[0], ts[2], ts[1], "down", -300.0, -0.3, 700.0, 1000.0, 8.0, 0.8, 3)

    def parts(android_dev: float, ios_dev: float) -> pd.DataFrame:
        rows = []
        for t in ts:
            rows.append(("platform", "android", t, 130 + android_dev / 3, 130.0))
            rows.append(("platform", "ios", t, 200 + ios_dev / 3, 200.0))
        return pd.DataFrame(rows, columns=["dimension_key", "dimension_value", "ts", "value", "expected"])

    driven = drivers(total, parts(-290, -10))
    assert (driven[0]["value"], driven[0]["notable"]) == ("android", True)
    assert driven[0]["share"] == pytest.approx(290 / 300)
    assert driven[0]["baseline_share"] == pytest.approx(130 / 330)
    # Both platforms fell in proportion to their size: an outage of everything, no driver to name.
    proportional = drivers(total, parts(-118, -182))
    assert not any(d["notable"] for d in proportional)
