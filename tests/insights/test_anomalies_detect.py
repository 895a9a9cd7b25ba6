"""Quality of the pure detector on synthetic series: one test per pattern, plus causality and batching."""

from __future__ import annotations

import importlib
from typing import Any

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


def test_short_history_is_scored_with_a_wide_band_and_tiny_ones_say_so() -> None:
    # Three weeks of data: no "not enough history", a wide band, and a fivefold jump is still news.
    s = seasonal(seed=9, days=18)
    s.iloc[-1] *= 5
    result = detect(s)
    assert result.attrs["not_enough_history"] is False
    assert flagged_days(result) == [17]
    # A young series' normal days stay inside the band.
    assert not result["is_anomaly"].iloc[:-1].any()
    # Four points cannot say anything.
    tiny = detect(s.iloc[:4])
    assert tiny.attrs["not_enough_history"] is True
    assert not tiny["is_anomaly"].any() and (tiny["score"] == 0).all()


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
    frames.append(pd.DataFrame({"series_id": "short", "ts": index[:4], "value": np.arange(4.0)}))
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


def _event(series_id: str, start: str, end: str, score: float = 0.8) -> Any:
    from insights.anomalies.events import Event

    s, e = pd.Timestamp(start), pd.Timestamp(end)
    return Event(series_id, s, e, s, "down", -10.0, -0.2, 40.0, 50.0, 6.0, score, (e - s).days + 1)


def test_incidents_group_by_onset_without_chaining_and_rank_their_evidence() -> None:
    from datetime import datetime

    from insights.anomalies.events import Change, group_incidents

    events = [
        (1, "metric", _event("metric:1:", "2026-03-01", "2026-03-02")),
        (1, "tickets", _event("tickets:1:tag=login", "2026-03-03", "2026-03-03")),
        # Close to the previous event but 5 days after the first onset: a new story, not a chain.
        (1, "metric", _event("metric:2:", "2026-03-06", "2026-03-06")),
        (1, "nps", _event("nps:1:", "2026-03-07", "2026-03-07")),
        # A long event cannot pull a later one into its incident.
        (2, "metric", _event("metric:3:", "2026-03-01", "2026-05-30")),
        (2, "tickets", _event("tickets:2:", "2026-04-10", "2026-04-10")),
        (2, "nps", _event("nps:2:", "2026-03-02", "2026-03-02")),
    ]
    releases = [
        (1, Change("release", datetime(2026, 2, 28, 9 + i), f"Released: item {i}", f"r{i}")) for i in range(8)
    ]
    changes = [
        *releases,
        (1, Change("flag", datetime(2026, 2, 28, 15), "Flag sync-v2: 50%", "sync-v2")),
        (1, Change("release", datetime(2026, 2, 10), "Released: long ago", "old")),
    ]
    incidents = group_incidents(events, changes)
    spans = sorted((i.product_id, str(i.start.date()), str(i.end.date())) for i in incidents)
    assert spans == [
        (1, "2026-03-01", "2026-03-03"),
        (1, "2026-03-06", "2026-03-07"),
        (2, "2026-03-01", "2026-03-15"),  # the long event is capped at 14 days and joins nothing later
    ]
    first = next(i for i in incidents if i.product_id == 1 and i.start == pd.Timestamp("2026-03-01"))
    assert next(c.kind for c in first.changes) == "flag"  # a flag flip explains more than a release note
    assert len(first.changes) == 4 and len(first.more_changes) == 5
    assert all(c.label != "Released: long ago" for c in first.changes + first.more_changes)
    second = next(i for i in incidents if i.product_id == 1 and i.start == pd.Timestamp("2026-03-06"))
    assert second.changes == []  # nothing happened shortly before this onset
    # The lead (highest score) first, then the same dimension value before other signals.
    mixed = group_incidents(
        [
            (3, "metric", _event("metric:5:", "2026-03-01", "2026-03-01", 0.6)),
            (3, "metric", _event("metric:4:platform=android", "2026-03-01", "2026-03-01", 0.9)),
            (3, "tickets", _event("tickets:3:tag=android", "2026-03-01", "2026-03-01", 0.7)),
            (3, "metric", _event("metric:6:platform=android", "2026-03-02", "2026-03-02", 0.5)),
        ],
        [],
    )[0]
    assert [e.series_id for _, e in mixed.events] == [
        "metric:4:platform=android",
        "metric:6:platform=android",
        "tickets:3:tag=android",
        "metric:5:",
    ]


def test_irregular_timestamps_are_bucketed_to_the_dominant_step_and_every_row_is_judged() -> None:
    rng = np.random.default_rng(21)
    hours = 24 * 20
    # Event-like timestamps: about one reading an hour at a random minute, some hours missing, some twice.
    base = pd.Timestamp("2025-03-01")
    stamps = [base + pd.Timedelta(hours=h, minutes=int(rng.integers(0, 60))) for h in range(hours) if h % 17]
    stamps += [base + pd.Timedelta(hours=h, minutes=59) for h in range(5, hours, 31)]
    stamps.sort()
    t = np.array([(s - base) / pd.Timedelta(hours=1) for s in stamps])
    values = 100 * (1 + 0.4 * np.sin(2 * np.pi * t / 24)) * (1 + rng.normal(0, 0.03, len(t)))
    spike = len(t) - 40
    values[spike] *= 3
    s = pd.Series(values, index=pd.DatetimeIndex(stamps))
    from insights.anomalies.detect import infer_step

    assert infer_step(pd.DatetimeIndex(stamps)) == pd.Timedelta(hours=1)
    result = detect(s)
    assert len(result) == len(s) and result.index.equals(s.index)
    assert result.attrs["not_enough_history"] is False
    assert result["expected"].iloc[100:].notna().all()  # every row judged, none dropped
    assert result["is_anomaly"].iloc[spike]
    assert result["is_anomaly"].sum() <= 3
    many = detect_many(pd.DataFrame({"series_id": "x", "ts": s.index, "value": s.to_numpy()}))
    assert np.array_equal(many["score"].to_numpy(), result["score"].to_numpy())


# Behaviour across sampling steps: the same promises hold from 5-minute to weekly data.
STEPS = {"5min": 288, "1h": 24, "1D": 7, "7D": 0}  # step -> season length in points (0: none)


def clean_series(step: str, points: int, seed: int) -> pd.Series:
    """A seasonal series with Gaussian noise at the given step (the season of its natural cycle)."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    period = STEPS[step]
    season = 1 + (0.3 * np.sin(2 * np.pi * t / period) if period else 0.0)
    values = 1000.0 * season * (1 + rng.normal(0, 0.03, points))
    return pd.Series(values, index=pd.date_range("2025-01-06", periods=points, freq=step))


def events_of(s: pd.Series) -> list[Any]:
    scored = detect_many(pd.DataFrame({"series_id": "x", "ts": s.index, "value": s.to_numpy()}))
    return find_events(scored)


@pytest.mark.parametrize("step,points", [("5min", 288 * 8), ("1h", 24 * 40), ("1D", 400), ("7D", 150)])
def test_scores_of_half_or_more_are_rare_on_clean_data_at_every_step(step: str, points: int) -> None:
    # Many clean series: a score >= 0.5 (the medium threshold) is rare per series, at any sampling step,
    # so a PM watching minute data is not flooded where one watching weekly data is not.
    high = 0
    total = 0
    for seed in range(8):
        result = detect(clean_series(step, points, seed))
        high += int((result["score"] >= 0.5).sum())
        total += len(result)
    assert high <= max(2, total // 2000), f"{high} of {total} points scored >= 0.5 at step {step}"


@pytest.mark.parametrize(
    "step,points,at", [("5min", 288 * 8, 288 * 5), ("1h", 24 * 40, 24 * 25), ("1D", 400, 250)]
)
def test_a_level_shift_is_one_short_event_then_the_new_normal(step: str, points: int, at: int) -> None:
    s = clean_series(step, points, seed=31)
    s.iloc[at:] *= 1.5
    events = events_of(s)
    assert len(events) == 1, [(e.start, e.end) for e in events]
    assert events[0].start == s.index[at]
    assert events[0].points <= 8


@pytest.mark.parametrize(
    "step,points,at", [("5min", 288 * 8, 288 * 6), ("1h", 24 * 40, 24 * 30), ("1D", 400, 300)]
)
def test_a_spike_is_one_event_of_one_point(step: str, points: int, at: int) -> None:
    s = clean_series(step, points, seed=32)
    s.iloc[at] *= 2.0
    events = events_of(s)
    assert len(events) == 1
    assert events[0].start == s.index[at] and events[0].points == 1


def test_a_slow_drift_is_flagged_once() -> None:
    s = seasonal(seed=33)
    t = np.arange(DAYS)
    drifted = s * (1 - 0.35 * np.clip((t - 120) / 40.0, 0, 1))
    events = events_of(drifted)
    assert len(events) == 1, [(e.start, e.end) for e in events]
    assert events[0].points <= 2


def test_a_young_series_has_a_wider_band_that_narrows_as_it_grows() -> None:
    s = seasonal(seed=34, days=120, noise=0.02)
    result = detect(s)
    width = result["upper"] - result["lower"]
    # Scored from the fifth point on, with a band that is widest at first.
    assert result["score"].iloc[:4].eq(0).all() and width.iloc[:4].isna().all()
    assert width.iloc[5:].notna().all()
    # Before the model (median and MAD of the points so far): several times the settled width.
    assert width.iloc[5:12].mean() > 3 * width.iloc[-28:].mean()
    # The model's first weeks (warm-up of 21 days) are still wider than its settled band.
    assert width.iloc[21:28].mean() > 1.2 * width.iloc[-28:].mean()


def test_a_routine_huge_spike_ranks_below_the_first_of_its_size_and_flags_do_not_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hourly latency with one huge incident, then smaller spikes of the same kind every few days. The
    # tail calibration saturates on the first repeats (50 sigma is 1e-300 to a Gaussian), so without
    # novelty the later, smaller spike outranks the incident; with it the incident ranks first.
    rng = np.random.default_rng(11)
    n = 24 * 30
    t = np.arange(n)
    values = 100 * (1 + 0.2 * np.sin(2 * np.pi * t / 24)) * (1 + rng.normal(0, 0.03, n))
    s = pd.Series(values, index=pd.date_range("2025-03-03", periods=n, freq="h"))
    first, routine = 150, [250, 330, 410, 490]
    s.iloc[first] *= 30
    for i in routine:
        s.iloc[i] *= 8
    result = detect(s)
    score = result["score"].to_numpy()
    assert int(np.argmax(score)) == first
    assert score[first] > max(score[routine])
    assert result["is_anomaly"].to_numpy()[[first, routine[0], routine[1]]].all()

    # The same series without the novelty term: the repeat wins, and every flag is the same.
    monkeypatch.setattr(importlib.import_module("insights.anomalies.detect"), "NOVELTY_POWER", 0.0)
    plain = detect(s)
    assert int(np.argmax(plain["score"].to_numpy())) != first
    assert (plain["is_anomaly"] == result["is_anomaly"]).all()
