"""Causal anomaly detection for regular time series, vectorised across series.

The model is a robust, self-anchoring Holt-Winters filter run for every series at once:

* **Warm-up.** The first ``warmup`` points of each series (three cycles of the longest candidate
  season, at least 14 points) only initialise the state; they are never scored. A series shorter than
  that is reported as "not enough history" and flags nothing.
* **Season, detected.** The candidate periods follow from the sampling step (a day and a week of
  points). The autocorrelation of the differenced warm-up window at each candidate lag picks the
  period; none above ``ACF_MIN`` means no seasonality.
* **Level, trend, season and scale** move with Huber-clipped residuals, so one spike cannot drag
  the baseline. The scale has a Poisson floor for count series (``sqrt(expected)``) and a small
  relative floor, so zeros and near-constant ratios do not divide by nothing.
* **Level shifts become normal.** After ``shift_run`` consecutive points on the same side of the
  band, the level re-anchors on the median of those points: the shift is reported once, not forever.
* **Slow drifts** that stay inside the band accumulate in a two-sided CUSUM of the standardised
  residuals and are flagged when it crosses ``CUSUM_H``.

Why a loop over time steps: re-anchoring and CUSUM make the state at ``t`` depend on decisions taken
at ``t-1``, so the model is a recursion by nature (which is also what makes it causal: nothing at
``t`` can see ``t+1``). Each step advances *every* series with a handful of numpy operations over an
``n_series`` vector, so the Python overhead is per time step, never per point of each series;
``detect`` on one series runs exactly the same code on a one-row matrix, which is why it matches
``detect_many`` bit for bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SENSITIVITY_Z = {"low": 5.5, "medium": 4.0, "high": 3.0}
DIRECTIONS = ("up", "down", "both")
MIN_HISTORY = 14  # points
ACF_MIN = 0.45  # differenced white noise reaches 0.3 at lag 7 in a 3-week window one time in ten
MAX_PERIOD = 1008  # longer seasons would need weeks of warm-up at sub-hourly steps
HUBER_C = 2.0
ALPHA, BETA, GAMMA, LAMBDA, PHI = 0.05, 0.05, 0.15, 0.04, 0.95
CUSUM_K, CUSUM_H = 0.5, 9.0
CUSUM_CLIP = 2.5  # a short spike adds little to the drift statistic
YOUNG_GAIN_N = 8
YOUNG = 14.0  # seasons (or pairs of points); the band is sqrt(1 + YOUNG * period / n) wider after n points
LONGER_PERIOD_MARGIN = 0.1  # a longer season must explain clearly more to be chosen
SCORE_HALF = 4.0  # |z| that scores 0.5


@dataclass(frozen=True)
class Plan:
    """Parameters derived from the sampling step only (so a batch of one frequency shares them)."""

    step: pd.Timedelta
    candidates: tuple[int, ...]
    warmup: int
    shift_run: int


def plan_for(step: pd.Timedelta) -> Plan:
    seconds = step.total_seconds()
    if seconds <= 0:
        raise ValueError("the series index must be increasing with a regular step")
    per_day = 86400.0 / seconds
    candidates = tuple(
        round(p) for p in (per_day, 7 * per_day) if p >= 2 and abs(p - round(p)) < 1e-6 and p <= MAX_PERIOD
    )
    warmup = max(MIN_HISTORY, 3 * max(candidates, default=0))
    # A week of points for daily data; a few hours for finer steps; three points for weekly data.
    if per_day > 1:
        shift_run = int(min(max(6, round(per_day / 4)), 48))
    elif per_day == 1:
        shift_run = 7
    else:
        shift_run = 3
    return Plan(step=step, candidates=candidates, warmup=warmup, shift_run=shift_run)


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The regular step of an index: its most common difference (tolerates missing points)."""
    if len(index) < 2:
        return pd.Timedelta(days=1)
    diffs = np.diff(index.as_unit("ns").asi8)
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        return pd.Timedelta(days=1)
    values, counts = np.unique(diffs, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")


def _per_row(
    value: Any, ids: list[Any], default: str, allowed: Mapping[str, Any] | tuple[str, ...]
) -> list[str]:
    mapped = isinstance(value, Mapping)
    out = [str(value.get(i, default)) for i in ids] if mapped else [str(value)] * len(ids)
    bad = sorted({v for v in out if v not in allowed})
    if bad:
        raise ValueError(f"unknown value(s) {bad}; use one of {list(allowed)}")
    return out


def score_from_z(z: np.ndarray) -> np.ndarray:
    """Map a deviation in robust standard units to [0, 1): 0.5 at |z|=4, ~0.8 at |z|=8."""
    z2 = np.square(z)
    return z2 / (z2 + SCORE_HALF**2)


def _nanmedian_rows(a: np.ndarray) -> np.ndarray:
    out = np.full(a.shape[0], np.nan)
    ok = np.isfinite(a).any(axis=1)
    if ok.any():
        out[ok] = np.nanmedian(a[ok], axis=1)
    return out


def _init_state(x: np.ndarray, plan: Plan) -> dict[str, np.ndarray]:
    """Initial level, trend, season and scale from each row's warm-up window x (n, W)."""
    n, w = x.shape
    # Period: autocorrelation of first differences at each candidate lag (differencing removes trend).
    d = np.diff(x, axis=1)
    dok = np.isfinite(d)
    d = d - (np.where(dok, d, 0.0).sum(axis=1) / np.maximum(dok.sum(axis=1), 1))[:, None]
    best_acf = np.full(n, ACF_MIN)
    period = np.ones(n, dtype=np.int64)
    for p in plan.candidates:
        if p >= d.shape[1]:
            continue
        a, b = d[:, p:], d[:, :-p]
        ok = np.isfinite(a) & np.isfinite(b)
        num = np.where(ok, a * b, 0.0).sum(axis=1)
        den = np.sqrt(np.where(ok, a * a, 0).sum(axis=1) * np.where(ok, b * b, 0).sum(axis=1))
        acf = np.divide(num, den, out=np.zeros(n), where=den > 0)
        # Candidates go shortest first; a week of hours also repeats every day, so prefer the day.
        better = acf > np.where(period > 1, best_acf + LONGER_PERIOD_MARGIN, best_acf)
        period[better] = p
        best_acf[better] = acf[better]

    pmax = max(plan.candidates, default=1)
    season = np.zeros((n, pmax))
    med = _nanmedian_rows(x)
    for p in np.unique(period):
        rows = np.flatnonzero(period == p)
        if p == 1:
            continue
        cycles = w // p
        xx = x[rows, : cycles * p].reshape(len(rows), cycles, p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a phase missing in every cycle stays 0
            prof = np.nanmedian(xx, axis=1) if cycles else np.zeros((len(rows), p))
        prof = np.nan_to_num(prof)
        prof = prof - prof.mean(axis=1, keepdims=True)
        season[rows[:, None], np.arange(p)[None, :]] = prof
    phase = np.arange(w)[None, :] % period[:, None]
    deseason = x - season[np.arange(n)[:, None], phase]
    chunk = max(7, pmax if pmax > 1 else 7)
    chunk = min(chunk, w // 2)
    first = _nanmedian_rows(deseason[:, :chunk])
    last = _nanmedian_rows(deseason[:, -chunk:])
    trend = np.nan_to_num((last - first) / max(w - chunk, 1))
    level = last + trend * (chunk - 1) / 2.0
    level = np.where(np.isfinite(level), level, med)
    fitted = (
        level[:, None]
        - trend[:, None] * (w - 1 - np.arange(w))[None, :]
        + season[np.arange(n)[:, None], phase]
    )
    resid = x - fitted
    mad = _nanmedian_rows(np.abs(resid - _nanmedian_rows(resid)[:, None])) * 1.4826
    # A damped trend adds up to trend / (1 - PHI) over time, so a slope read from noise would later look
    # like a drift: keep only slopes clearly beyond the noise of two chunk medians (t > 2).
    slope_se = np.nan_to_num(mad) * 1.2533 * np.sqrt(2.0 / chunk) / max(w - chunk, 1)
    significant = np.abs(trend) > 3.0 * slope_se
    level = np.where(significant, level, np.where(np.isfinite(last), last, med))
    trend = np.where(significant, trend, 0.0)
    finite = np.isfinite(x)
    is_count = np.all(~finite | ((x >= 0) & (np.abs(x - np.round(x)) < 1e-9)), axis=1)
    nonneg = np.all(~finite | (x >= 0), axis=1)
    enough = finite.sum(axis=1) >= max(MIN_HISTORY // 2, w // 2)
    return {
        "period": period,
        "season": season,
        "level": level,
        "trend": trend,
        "scale": np.nan_to_num(mad),
        "is_count": is_count,
        "nonneg": nonneg,
        "enough": enough,
    }


def detect_matrix(
    values: np.ndarray,
    step: pd.Timedelta,
    thresholds: np.ndarray,
    allow_up: np.ndarray,
    allow_down: np.ndarray,
) -> dict[str, np.ndarray]:
    """The core: rows are series on one regular grid (NaN = missing). Returns (n, T) arrays and flags."""
    y = np.asarray(values, dtype=float)
    n, t_len = y.shape
    plan = plan_for(step)
    w = plan.warmup
    out: dict[str, np.ndarray[Any, Any]] = {
        "expected": np.full((n, t_len), np.nan),
        "lower": np.full((n, t_len), np.nan),
        "upper": np.full((n, t_len), np.nan),
        "score": np.zeros((n, t_len)),
        "is_anomaly": np.zeros((n, t_len), dtype=bool),
    }
    finite_any = np.isfinite(y)
    start = np.where(finite_any.any(axis=1), finite_any.argmax(axis=1), t_len)
    stop = np.where(finite_any.any(axis=1), t_len - finite_any[:, ::-1].argmax(axis=1), 0)
    ready_at = start + w
    # Judged on the series' own span, so a batch says the same as detect() on the series alone.
    enough_len = ready_at < stop
    if not enough_len.any():
        out["not_enough_history"] = np.ones(n, dtype=bool)
        return out

    rows = np.flatnonzero(enough_len)
    idx = ready_at[rows, None] - w + np.arange(w)[None, :]
    st = _init_state(y[rows[:, None], idx], plan)
    enough = np.zeros(n, dtype=bool)
    enough[rows] = st["enough"]
    rows = rows[st["enough"]]
    not_enough = ~enough
    if rows.size == 0:
        out["not_enough_history"] = not_enough
        return out

    keep = st["enough"]
    period = st["period"][keep]
    season = st["season"][keep]
    level = st["level"][keep]
    trend = st["trend"][keep]
    scale = st["scale"][keep]
    is_count = st["is_count"][keep]
    nonneg = st["nonneg"][keep]
    thr = thresholds[rows]
    up_ok, down_ok = allow_up[rows], allow_down[rows]
    first_t = ready_at[rows]
    origin = start[rows]
    gamma = np.where(period > 1, GAMMA, 0.0)
    young = YOUNG * np.where(period > 1, period, 2)

    m = len(rows)
    ar = np.arange(m)
    run = np.zeros(m, dtype=np.int64)
    ring = np.full((m, plan.shift_run), np.nan)
    cpos = np.zeros(m)
    cneg = np.zeros(m)
    shift_z = np.minimum(thr, 3.5)
    yy = y[rows]
    res = {k: out[k][rows] for k in ("expected", "lower", "upper", "score", "is_anomaly")}

    for t in range(int(first_t.min()), t_len):
        active = first_t <= t
        yt = yy[:, t]
        ph = (t - origin) % period
        s_t = season[ar, ph]
        trend = np.where(active, trend * PHI, trend)
        exp = level + trend + s_t
        exp = np.where(nonneg, np.maximum(exp, 0.0), exp)
        floor = np.maximum(np.abs(exp) * 0.01, 1e-9)
        floor = np.where(is_count, np.maximum(floor, np.sqrt(np.maximum(exp, 1.0))), floor)
        # Young models know their scale and season poorly: widen the band like a small-sample t.
        seen = np.maximum(t - origin + 1, 1)
        sig = np.maximum(scale, floor) * np.sqrt(1.0 + young / seen)
        r = yt - exp
        ok = np.isfinite(yt) & active
        z = np.where(ok, r / sig, 0.0)
        if is_count.any():
            # Small counts have a long right tail: judge them on the Anscombe (variance-stabilised)
            # scale as well, so 6 tickets on a day that expects 1 is unusual but not an alarm.
            anscombe = 2.0 * (np.sqrt(np.maximum(yt, 0.0) + 0.375) - np.sqrt(np.maximum(exp, 0.0) + 0.375))
            z = np.where(is_count & ok, np.sign(z) * np.minimum(np.abs(z), np.abs(anscombe)), z)

        zc = np.clip(z, -CUSUM_CLIP, CUSUM_CLIP)
        cpos = np.where(ok, np.minimum(np.maximum(0.0, cpos + zc - CUSUM_K), 2 * CUSUM_H), cpos)
        cneg = np.where(ok, np.minimum(np.maximum(0.0, cneg - zc - CUSUM_K), 2 * CUSUM_H), cneg)
        dev_up = np.maximum(np.maximum(z, 0.0), thr * cpos / CUSUM_H)
        dev_down = np.maximum(np.maximum(-z, 0.0), thr * cneg / CUSUM_H)
        dev_up = np.where(up_ok, dev_up, 0.0)
        dev_down = np.where(down_ok, dev_down, 0.0)
        dev = np.where(ok, np.maximum(dev_up, dev_down), 0.0)

        lo = exp - thr * sig
        if nonneg.any():
            lo = np.where(nonneg, np.maximum(lo, 0.0), lo)
        res["expected"][:, t] = np.where(active, exp, np.nan)
        res["lower"][:, t] = np.where(active, lo, np.nan)
        res["upper"][:, t] = np.where(active, exp + thr * sig, np.nan)
        res["score"][:, t] = score_from_z(dev)
        res["is_anomaly"][:, t] = dev > thr

        # Level shifts: count consecutive big residuals on one side; after shift_run, re-anchor.
        side = np.where(ok & (np.abs(z) > shift_z), np.sign(z), 0).astype(np.int64)
        run = np.where(ok, np.where((side != 0) & (np.sign(run) == side), run + side, side), run)
        ring[:, t % plan.shift_run] = np.where(ok, yt - s_t, np.nan)

        # Huber-clipped error-correction updates (missing points only advance the trend).
        e = np.where(ok, np.clip(r, -HUBER_C * sig, HUBER_C * sig), 0.0)
        # A young level learns like a running mean (gain 1/n), then settles to ALPHA: an imprecise
        # warm-up estimate must not look like a drift to the CUSUM.
        gain = np.maximum(ALPHA, 1.0 / np.maximum(t - first_t + YOUNG_GAIN_N, YOUNG_GAIN_N))
        level = np.where(active, level + trend + gain * e, level)
        trend = trend + ALPHA * BETA * e
        season[ar, ph] = s_t + gamma * (1 - ALPHA) * e
        scale = np.where(ok, np.sqrt((1 - LAMBDA) * scale**2 + LAMBDA * np.square(e)), scale)

        shifted = np.abs(run) >= plan.shift_run
        if shifted.any():
            sr = np.flatnonzero(shifted)
            level[sr] = _nanmedian_rows(ring[sr])
            trend[sr] = 0.0
            run[sr] = 0
            cpos[sr] = 0.0
            cneg[sr] = 0.0
        # A drift flagged long enough is the new normal too: let the CUSUM forget once the level caught up.

    for k, v in res.items():
        out[k][rows] = v
    out["not_enough_history"] = not_enough
    return out


def _thresholds(sens: list[str], dirs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    thr = np.array([SENSITIVITY_Z[s] for s in sens], dtype=float)
    up = np.array([d in ("up", "both") for d in dirs], dtype=bool)
    down = np.array([d in ("down", "both") for d in dirs], dtype=bool)
    return thr, up, down


def detect(series: pd.Series, *, sensitivity: str = "medium", direction: str = "both") -> pd.DataFrame:
    """Score one series. Columns: expected, lower, upper, score (0-1), is_anomaly.

    The index must be a DatetimeIndex with a regular step (gaps are missing points). A series too short
    to learn from flags nothing, and ``result.attrs["not_enough_history"]`` is True.
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("detect() needs a series indexed by a DatetimeIndex (one value per time step)")
    s = series.astype(float).sort_index()
    s = s[~s.index.duplicated(keep="last")]
    if len(s) == 0:
        empty = pd.DataFrame(
            {"expected": [], "lower": [], "upper": [], "score": [], "is_anomaly": pd.Series([], dtype=bool)},
            index=series.index,
        )
        empty.attrs["not_enough_history"] = True
        return empty
    step = infer_step(s.index)
    grid = pd.date_range(s.index[0], s.index[-1], freq=step)
    values = s.reindex(grid).to_numpy()[None, :]
    thr, up, down = _thresholds(
        _per_row(sensitivity, [0], "medium", tuple(SENSITIVITY_Z)),
        _per_row(direction, [0], "both", DIRECTIONS),
    )
    res = detect_matrix(values, step, thr, up, down)
    frame = pd.DataFrame(
        {k: res[k][0] for k in ("expected", "lower", "upper", "score", "is_anomaly")}, index=grid
    )
    frame = frame.reindex(series.index)
    frame["score"] = frame["score"].fillna(0.0)
    frame["is_anomaly"] = frame["is_anomaly"].fillna(False).astype(bool)
    frame.attrs["not_enough_history"] = bool(res["not_enough_history"][0])
    frame.attrs["history_needed"] = plan_for(step).warmup
    return frame


def detect_many(
    frame: pd.DataFrame,
    *,
    sensitivity: str | Mapping[Any, str] = "medium",
    direction: str | Mapping[Any, str] = "both",
) -> pd.DataFrame:
    """Score many series at once; same results as ``detect`` on each.

    ``frame`` is either long (columns series_id, ts, value) or wide (a DatetimeIndex, one column per
    series). Sensitivity and direction may be one value or a mapping series_id -> value. Returns a long
    frame: series_id, ts, value, expected, lower, upper, score, is_anomaly, in the input's row set; its
    ``attrs["not_enough_history"]`` lists the series too short to score.
    """
    if {"series_id", "ts", "value"} <= set(frame.columns):
        long = frame[["series_id", "ts", "value"]].copy()
        long["ts"] = pd.to_datetime(long["ts"])
        wide = long.pivot_table(index="ts", columns="series_id", values="value", aggfunc="last", dropna=False)
    elif isinstance(frame.index, pd.DatetimeIndex):
        wide = frame
        long = None
    else:
        raise ValueError(
            "detect_many needs a long frame (series_id, ts, value) or a wide frame with a DatetimeIndex"
        )
    wide = wide.sort_index()
    ids = list(wide.columns)
    if wide.empty or not ids:
        result = pd.DataFrame(
            columns=["series_id", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly"]
        )
        result.attrs["not_enough_history"] = ids
        return result
    step = infer_step(pd.DatetimeIndex(wide.index))
    grid = pd.date_range(wide.index[0], wide.index[-1], freq=step)
    mat = wide.reindex(grid).to_numpy(dtype=float).T
    thr, up, down = _thresholds(
        _per_row(sensitivity, ids, "medium", tuple(SENSITIVITY_Z)),
        _per_row(direction, ids, "both", DIRECTIONS),
    )
    res = detect_matrix(mat, step, thr, up, down)
    n, t_len = mat.shape
    out = pd.DataFrame(
        {
            "series_id": np.repeat(np.array(ids, dtype=object), t_len),
            "ts": np.tile(grid.to_numpy(), n),
            "value": mat.ravel(),
            **{k: res[k].ravel() for k in ("expected", "lower", "upper", "score", "is_anomaly")},
        }
    )
    if long is not None:
        out = long[["series_id", "ts"]].merge(out, on=["series_id", "ts"], how="left")
    else:
        out = out[np.isfinite(out["value"].to_numpy())].reset_index(drop=True)
    out.attrs["not_enough_history"] = [
        i for i, flag in zip(ids, res["not_enough_history"], strict=True) if flag
    ]
    return out
