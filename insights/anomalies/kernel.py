"""The detector's time loop, compiled (numba): one pass per time step over every series, scalar code.

``detect.detect_matrix`` sets up the state and runs ``advance`` between the steps where some series
start their model (their warm-up fit, ``detect._init_state``, stays in numpy). ``advance`` is the
recursion that the module docstring of ``detect`` describes, written per point: expected value and band,
z, CUSUM, tail calibration (SciPy's ``ndtri_exp``, passed in as a C function), drift, flag, novelty,
tail episodes, level-shift re-anchoring and the Holt-Winters updates. Series never interact, so the
order of the loops changes nothing: series outside, time inside keeps a series' state in locals and
reads and writes each series' row in order.

Numpy semantics are kept where they matter: ``_max``/``_min``/``_clip`` propagate NaN like
``np.maximum``/``np.minimum``/``np.clip``, divisions follow IEEE (``error_model="numpy"``), and every
expression keeps the order of operations of the numpy version it replaced (``bench/anomalies.py
--against 306af28`` times the two side by side; they give the same flags, values within 4e-12).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address

# SciPy's own ndtri_exp (its C implementation, the function scipy.special.ndtri_exp calls), handed to the
# compiled loop as an argument: the cached machine code then holds no address of this process.
NDTRI_EXP = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int)(
    get_cython_function_address("scipy.special.cython_special", "ndtri_exp")
)

NAN = math.nan


@njit(inline="always", cache=True)
def _max(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a >= b else b


@njit(inline="always", cache=True)
def _min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a <= b else b


@njit(inline="always", cache=True)
def _clip(a: float, lo: float, hi: float) -> float:
    return _min(_max(a, lo), hi)


@njit(inline="always", cache=True)
def _sign(a: float) -> float:
    if a > 0:
        return 1.0
    if a < 0:
        return -1.0
    return a  # 0.0 (or -0.0) and NaN, like np.sign


@njit(cache=True)
def _nanmedian(buf: np.ndarray, m: int) -> float:
    """Median of buf[:m] (finite values only; buf is scratch and gets sorted). NaN when none."""
    vals = np.sort(buf[:m])
    cnt = 0
    for j in range(m):
        if np.isfinite(vals[j]):
            cnt += 1
    if cnt == 0:
        return NAN
    return (vals[(cnt - 1) // 2] + vals[cnt // 2]) / 2.0


@njit(cache=True, error_model="numpy")
def advance(  # the loop's whole state, as arrays the caller keeps between calls
    t0: int,
    t1: int,
    y_time: np.ndarray,
    start: np.ndarray,
    ready_at: np.ndarray,
    first_young: np.ndarray,
    model: np.ndarray,
    period: np.ndarray,
    season: np.ndarray,
    level: np.ndarray,
    trend: np.ndarray,
    scale: np.ndarray,
    is_count: np.ndarray,
    nonneg: np.ndarray,
    gamma: np.ndarray,
    young_w: np.ndarray,
    run: np.ndarray,
    ring: np.ndarray,
    cpos: np.ndarray,
    cneg: np.ndarray,
    quiet_up: np.ndarray,
    quiet_down: np.ndarray,
    drifting_up: np.ndarray,
    drifting_down: np.ndarray,
    shift_z: np.ndarray,
    tails: np.ndarray,
    table: np.ndarray,
    up_prev: np.ndarray,
    down_prev: np.ndarray,
    ac_num: np.ndarray,
    ac_den: np.ndarray,
    zc_prev: np.ndarray,
    young_nonneg: np.ndarray,
    seen: np.ndarray,
    record: np.ndarray,
    thr: np.ndarray,
    consts: np.ndarray,
    levels: np.ndarray,
    levels0: np.ndarray,
    log_levels0: np.ndarray,
    log_steps: np.ndarray,
    prior_tail: np.ndarray,
    w: int,
    shift_run: int,
    res_expected: np.ndarray,
    res_lower: np.ndarray,
    res_upper: np.ndarray,
    res_score: np.ndarray,
    res_flag: np.ndarray,
    up_ok: np.ndarray,
    down_ok: np.ndarray,
    ndtri_exp: Any,
) -> None:
    """Advance every series from step t0 to t1 (exclusive). y_time and res_* are (n, T): one row per series."""
    (
        phi,
        scale_floor,
        young_points,
        cusum_clip,
        ac_lambda,
        cusum_k,
        cusum_h,
        z_cap_n,
        tail_prior,
        log_p1,
        per_day_log,
        huber_c,
        alpha,
        beta,
        lam,
        young_gain_n,
        shift_rescale_max,
        drift_dev,
        tie_break,
        novelty_from,
        novelty_power,
        score_half,
    ) = (
        consts[0],
        consts[1],
        consts[2],
        consts[3],
        consts[4],
        consts[5],
        consts[6],
        consts[7],
        consts[8],
        consts[9],
        consts[10],
        consts[11],
        consts[12],
        consts[13],
        consts[14],
        consts[15],
        consts[16],
        consts[17],
        consts[18],
        consts[19],
        consts[20],
        consts[21],
    )
    n = y_time.shape[0]
    n_levels = levels.shape[0]
    n_levels0 = levels0.shape[0]
    pmax = season.shape[1]
    window = np.empty(max(w, 1))
    devs = np.empty(max(w, 1))
    ringbuf = np.empty(shift_run)
    # Series outer, time inner: a series' state lives in locals (registers) across the steps.
    for i in range(n):
        mdl = model[i]
        rdy = ready_at[i]
        fy = first_young[i]
        st0 = start[i]
        per = period[i]
        cntf = is_count[i]
        nn = nonneg[i]
        gam = gamma[i]
        yw = young_w[i]
        thr_i = thr[i]
        sz = shift_z[i]
        uok = up_ok[i]
        dok = down_ok[i]
        lvl = level[i]
        trd = trend[i]
        scl = scale[i]
        rn = run[i]
        cp = cpos[i]
        cn = cneg[i]
        qu = quiet_up[i]
        qd = quiet_down[i]
        du = drifting_up[i]
        dd = drifting_down[i]
        upp = up_prev[i]
        dnp = down_prev[i]
        acn = ac_num[i]
        acd = ac_den[i]
        zcp = zc_prev[i]
        ynn = young_nonneg[i]
        sn = seen[i]
        rcd = record[i]
        ph = (t0 - st0) % per  # the seasonal phase, advanced by a counter (no division per point)
        slot = t0 % shift_run
        for t in range(t0, t1):
            act = mdl and rdy <= t
            yng = (not act) and fy <= t
            yv = y_time[i, t]
            s_t = season[i, ph]
            if act:
                trd = trd * phi
            ex = lvl + trd + s_t
            if nn:
                ex = _max(ex, 0.0)
            fl = _max(abs(ex) * 0.01, scale_floor)
            if cntf:
                fl = _max(fl, np.sqrt(_max(ex, 1.0)))
            age = max(t - st0 + 1, 1)
            sg = _max(scl, fl) * np.sqrt(1.0 + yw / age)
            if yng:
                # Before the model: the median and MAD of the w points before t.
                m = 0
                cnt = 0
                whole = True
                nonneg_past = True
                for k in range(t - w, t):
                    v = y_time[i, k] if k >= 0 else NAN
                    window[m] = v
                    m += 1
                    if np.isfinite(v):
                        cnt += 1
                        if not (v >= 0 and abs(v - np.round(v)) < 1e-9):
                            whole = False
                        if not v >= 0:
                            nonneg_past = False
                med = _nanmedian(window, m)
                dev_sum = 0.0
                for k in range(m):
                    d = abs(window[k] - med)
                    devs[k] = d
                    if np.isfinite(d):
                        dev_sum += d
                mean_dev = dev_sum / max(cnt, 1)
                mad = _max(_nanmedian(devs, m) * 1.4826, mean_dev * 1.2533)
                if not np.isfinite(mad):
                    mad = 0.0  # np.nan_to_num of NaN (an infinite MAD cannot arise from finite points)
                yfloor = _max(abs(med) * 0.01, 1e-9)
                if whole:
                    yfloor = _max(yfloor, np.sqrt(_max(med, 1.0)))
                ex = med
                ynn = nonneg_past
                sg = _max(mad, yfloor) * np.sqrt(1.0 + young_points / max(cnt, 1))
            r = yv - ex
            ok = np.isfinite(yv) and (act or yng)
            z = r / sg if ok else 0.0
            if cntf and ok and act:
                # Small counts: judged on the Anscombe (variance-stabilised) scale as well.
                ans = 2.0 * (np.sqrt(_max(yv, 0.0) + 0.375) - np.sqrt(_max(ex, 0.0) + 0.375))
                z = _sign(z) * _min(abs(z), abs(ans))

            zc = _clip(z, -cusum_clip, cusum_clip)
            on = ok and act
            if on and _max(cp, cn) < cusum_h / 3:
                acn = (1 - ac_lambda) * acn + ac_lambda * zc * zcp
                acd = (1 - ac_lambda) * acd + ac_lambda * zc * zc
            if on:
                zcp = zc
            rho = acn / acd if acd > 0 else 0.0
            rho = _clip(rho, 0.0, 0.95)
            zc = zc * np.sqrt((1 - rho) / (1 + rho))
            if on:
                cp = _min(_max(0.0, cp + zc - cusum_k), 2 * cusum_h)
                cn = _min(_max(0.0, cn - zc - cusum_k), 2 * cusum_h)
            z_raw = abs(z)
            if abs(z) > z_cap_n:  # the cap is at least z_cap_n: only a bigger |z| can reach it
                cap = z_cap_n * np.sqrt(sn + 1.0)
                z = _clip(z, -cap, cap)
            # Calibration: the series' own record of past tail episodes, per side, gives the log tail
            # probability of |z|; it becomes the z a Gaussian would need for the same rarity.
            az = abs(z)
            cal = az  # within one sigma nothing is surprising: the Gaussian reading stands
            if az >= 1.0:
                side = 1 if z < 0 else 0
                log_seen = np.log(sn + tail_prior)
                k = 1  # np.searchsorted(levels0, az, side="right") clipped to [1, n_levels0 - 1]
                while k < n_levels0 - 1 and levels0[k] <= az:
                    k += 1
                hi = min(table[i, side, k - 1] - log_seen, log_p1)
                lo = min(table[i, side, k - 2] - log_seen, log_p1) if k >= 2 else log_p1
                slope = (hi - lo) / log_steps[k - 1]
                lp = min(lo + slope * (np.log(az) - log_levels0[k - 1]), log_p1)
                # Rarity per day, not per point: finer steps need rarer points for the same score.
                lp = min(lp + per_day_log, log_p1)
                # Calibration only ever discounts: a clean record never makes a deviation rarer.
                cal = min(-ndtri_exp(lp, 0), az)
            zcal = math.copysign(cal, z)
            # Drifts: flagged once when the CUSUM crosses, then re-anchored silently until it rests.
            if on:
                qu = qu + 1 if cp == 0 else 0
                qd = qd + 1 if cn == 0 else 0
            if qu >= shift_run:
                du = False
            if qd >= shift_run:
                dd = False
            fire_up = cp >= cusum_h
            fire_down = cn >= cusum_h
            drift_up = thr_i * drift_dev + 0.01 * abs(zcal) if fire_up and not du else 0.0
            drift_down = thr_i * drift_dev + 0.01 * abs(zcal) if fire_down and not dd else 0.0
            if fire_up:
                du = True
            if fire_down:
                dd = True
            dev_up = _max(_max(zcal, 0.0), drift_up) if uok else 0.0
            dev_down = _max(_max(-zcal, 0.0), drift_down) if dok else 0.0
            dev = _max(dev_up, dev_down) if ok else 0.0
            # Equally unsurprising points still differ in raw size: the score stays monotone in |z|.
            if ok and ((uok and z > 0) or (dok and z < 0)):
                dev = dev + tie_break * az / (1.0 + az)
            res_flag[i, t] = dev > thr_i
            # Novelty (scores only, after the flag): a deviation beyond the low threshold that is smaller
            # than the largest raw |z| the series has shown keeps only part of its excess.
            rec = rcd
            if dev > novelty_from:
                q = _min(z_raw / rec if rec > 0 else 1.0, 1.0)
                dev = novelty_from + (dev - novelty_from) * q**novelty_power
            # The score maps the deviation to [0, 1): 0.5 at |z| = SCORE_HALF (4), about 0.8 at 8.
            res_score[i, t] = dev * dev / (dev * dev + score_half * score_half)
            if ok and sg > 10 * scale_floor:
                rcd = _max(rec, z_raw)
            # Tail episodes, counted when they end (per side, how many levels they went beyond).
            beyond = 0  # np.searchsorted(levels, az, side="right"); NaN sorts last
            if az != az:
                beyond = n_levels
            else:
                while beyond < n_levels and levels[beyond] <= az:
                    beyond += 1
            if ok:
                now_up = 0 if z < 0 else beyond
                now_down = beyond if z < 0 else 0
            else:
                now_up = upp
                now_down = dnp
            if upp > now_up or dnp > now_down:
                for lv in range(n_levels):
                    if now_up <= lv < upp:
                        tails[i, 0, lv] += 1.0
                    if now_down <= lv < dnp:
                        tails[i, 1, lv] += 1.0
                for sd in range(2):
                    low = np.inf
                    for lv in range(n_levels):
                        val = np.log(tails[i, sd, lv] + tail_prior * prior_tail[lv])
                        low = min(low, val)
                        table[i, sd, lv] = low
            upp = now_up
            dnp = now_down
            if ok:
                sn += 1.0

            if act or yng:
                lower = ex - thr_i * sg
                if nn if act else ynn:
                    lower = _max(lower, 0.0)
                res_expected[i, t] = ex
                res_lower[i, t] = lower
                res_upper[i, t] = ex + thr_i * sg

            # Level shifts: consecutive big residuals on one side re-anchor the level after shift_run.
            side_z = 0
            if on and abs(z) > sz:
                side_z = int(_sign(z))
            if on:
                run_sign = 1 if rn > 0 else (-1 if rn < 0 else 0)
                rn = rn + side_z if (side_z != 0 and run_sign == side_z) else side_z
            ring[slot, i] = yv - s_t if on else NAN
            # Huber-clipped error-correction updates (missing points only advance the trend).
            e = _clip(r, -huber_c * sg, huber_c * sg) if on else 0.0
            if act:
                since = t - rdy + young_gain_n
                # 1 / since is below alpha from since = 1 / alpha on: skip the division there.
                gain = alpha if since * alpha >= 1.0 else max(alpha, 1.0 / max(since, young_gain_n))
                lvl = lvl + trd + gain * e
                trd = trd + alpha * beta * e
                season[i, ph] = s_t + gam * (1 - alpha) * e
            if on:
                scl = np.sqrt((1 - lam) * (scl * scl) + lam * (e * e))
            if abs(rn) >= shift_run or cp >= cusum_h or cn >= cusum_h:
                for k in range(shift_run):
                    ringbuf[k] = ring[k, i]
                new_level = _nanmedian(ringbuf, shift_run)
                # A positive quantity that moves to a new level keeps its shape: its seasonal swing
                # and its noise move with it.
                old_level = lvl
                ratio = new_level / old_level if old_level > 0 else 1.0
                if not (nn and np.isfinite(ratio) and ratio > 0):
                    ratio = 1.0
                ratio = _clip(ratio, 1.0 / shift_rescale_max, shift_rescale_max)
                for k in range(pmax):
                    season[i, k] = season[i, k] * ratio
                scl = scl * ratio
                lvl = new_level
                trd = 0.0
                rn = 0
                cp = 0.0
                cn = 0.0
            ph = ph + 1 if ph + 1 < per else 0
            slot = slot + 1 if slot + 1 < shift_run else 0
        level[i] = lvl
        trend[i] = trd
        scale[i] = scl
        run[i] = rn
        cpos[i] = cp
        cneg[i] = cn
        quiet_up[i] = qu
        quiet_down[i] = qd
        drifting_up[i] = du
        drifting_down[i] = dd
        up_prev[i] = upp
        down_prev[i] = dnp
        ac_num[i] = acn
        ac_den[i] = acd
        zc_prev[i] = zcp
        young_nonneg[i] = ynn
        seen[i] = sn
        record[i] = rcd
