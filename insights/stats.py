"""Statistics behind the NPS and experiment verdicts: plain numbers in, plain dataclasses out.

Nothing here touches the ORM, so every function can be checked against a textbook or scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

Z95 = float(sps.norm.ppf(0.975))


# --- NPS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpsResult:
    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float  # -100..100
    se: float  # standard error, in NPS points
    ci_low: float
    ci_high: float
    enough: bool  # n >= the minimum sample; below it the page shows a warning and no verdict


def nps(scores: Sequence[int] | np.ndarray, min_sample: int = 30) -> NpsResult:
    """NPS with a 95% CI from the trinomial variance.

    Each answer is +1 (promoter, 9-10), 0 (passive, 7-8) or -1 (detractor, 0-6). With shares pP and pD,
    Var(single answer) = pP + pD - (pP - pD)^2, so SE(NPS) = sqrt(that / n); see e.g. Rocks (2016),
    "Confidence intervals for the Net Promoter Score" (the "trinomial" or Wald interval).
    """
    arr = np.asarray(scores, dtype=np.int64)
    n = int(arr.size)
    promoters = int(np.count_nonzero(arr >= 9))
    detractors = int(np.count_nonzero(arr <= 6))
    passives = n - promoters - detractors
    if n == 0:
        return NpsResult(0, 0, 0, 0, 0.0, math.nan, math.nan, math.nan, False)
    p_p, p_d = promoters / n, detractors / n
    value = p_p - p_d
    variance = max(p_p + p_d - value * value, 0.0)
    se = math.sqrt(variance / n) * 100
    score = value * 100
    return NpsResult(
        n, promoters, passives, detractors, score, se, score - Z95 * se, score + Z95 * se, n >= min_sample
    )


@dataclass(frozen=True)
class ShiftResult:
    delta: float
    z: float
    p_value: float
    significant: bool


def nps_shift(before: NpsResult, after: NpsResult, alpha: float = 0.05) -> ShiftResult:
    """Is the change between two independent periods larger than their noise? (difference of two
    independent estimates: SE = sqrt(se1^2 + se2^2), two-sided normal test)."""
    delta = after.nps - before.nps
    if not (before.enough and after.enough):
        return ShiftResult(delta, math.nan, math.nan, False)
    se = math.hypot(before.se, after.se)
    if se == 0:
        return ShiftResult(delta, math.inf if delta else 0.0, 0.0 if delta else 1.0, bool(delta))
    z = delta / se
    p = float(2 * sps.norm.sf(abs(z)))
    return ShiftResult(delta, z, p, p < alpha)


# --- Experiments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    control_mean: float
    treatment_mean: float
    statistic: float
    p_value: float
    lift: float  # relative, (t - c) / c
    lift_low: float  # 95% CI of the relative lift
    lift_high: float


def two_proportion_ztest(conv_c: int, n_c: int, conv_t: int, n_t: int) -> Comparison:
    """Pooled two-proportion z-test (the same statistic as statsmodels' proportions_ztest);
    the lift CI uses the delta method on the ratio of the unpooled proportions."""
    p_c, p_t = conv_c / n_c, conv_t / n_t
    pooled = (conv_c + conv_t) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    z = (p_t - p_c) / se0 if se0 > 0 else 0.0
    p = float(2 * sps.norm.sf(abs(z)))
    var_c, var_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    lift, low, high = _ratio_lift(p_c, p_t, var_c, var_t, Z95)
    return Comparison(p_c, p_t, z, p, lift, low, high)


def welch_from_sums(n_c: int, sum_c: float, ss_c: float, n_t: int, sum_t: float, ss_t: float) -> Comparison:
    """Welch's t-test from per-arm count, sum and sum of squares (what ExperimentResult stores).

    Sample variance = (sum of squares - sum^2 / n) / (n - 1); degrees of freedom by Welch-Satterthwaite.
    """
    m_c, m_t = sum_c / n_c, sum_t / n_t
    v_c = max((ss_c - sum_c * sum_c / n_c) / (n_c - 1), 0.0)
    v_t = max((ss_t - sum_t * sum_t / n_t) / (n_t - 1), 0.0)
    a, b = v_c / n_c, v_t / n_t
    se = math.sqrt(a + b)
    if se == 0:
        return Comparison(m_c, m_t, 0.0, 1.0, _safe_lift(m_c, m_t), math.nan, math.nan)
    t = (m_t - m_c) / se
    df = (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))
    p = float(2 * sps.t.sf(abs(t), df))
    crit = float(sps.t.ppf(0.975, df))
    lift, low, high = _ratio_lift(m_c, m_t, a, b, crit)
    return Comparison(m_c, m_t, t, p, lift, low, high)


def _safe_lift(c: float, t: float) -> float:
    return (t - c) / abs(c) if c else math.nan


def _ratio_lift(c: float, t: float, var_c: float, var_t: float, crit: float) -> tuple[float, float, float]:
    """Relative lift t/c - 1 with a delta-method CI: Var(t/c) ~ var_t/c^2 + t^2 var_c / c^4."""
    if c == 0:
        return math.nan, math.nan, math.nan
    ratio = t / c
    se = math.sqrt(var_t / (c * c) + (t * t) * var_c / c**4)
    return ratio - 1, ratio - 1 - crit * se, ratio - 1 + crit * se


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaNs stay NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    vals = p[ok]
    m = vals.size
    if m == 0:
        return out.tolist()
    order = np.argsort(vals)
    adj = np.maximum.accumulate((m - np.arange(m)) * vals[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out.tolist()


@dataclass(frozen=True)
class SrmResult:
    chi2: float
    p_value: float
    flagged: bool
    observed: list[int]
    expected: list[float]


def srm_check(observed: Sequence[int], weights: Sequence[float], threshold: float = 0.001) -> SrmResult:
    """Sample-ratio mismatch: Pearson chi-square of the exposures against the configured split.
    Flagged at p < 0.001, the usual threshold (Kohavi et al., "Trustworthy Online Controlled Experiments")."""
    obs = np.asarray(observed, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = obs.sum()
    if total <= 0 or w.sum() <= 0 or obs.size < 2:
        return SrmResult(0.0, 1.0, False, [int(x) for x in obs], [0.0] * int(obs.size))
    expected = total * w / w.sum()
    chi2, p = sps.chisquare(obs, expected)
    return SrmResult(float(chi2), float(p), bool(p < threshold), [int(x) for x in obs], expected.tolist())
