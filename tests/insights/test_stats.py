"""Statistics against hand-computed values and scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from insights import stats


def test_nps_ci_hand_computed() -> None:
    # Hand computation (trinomial / Wald interval, e.g. Rocks 2016, "Confidence intervals for the NPS"):
    # 50 promoters, 30 passives, 20 detractors of 100 -> NPS = 50% - 20% = 30.
    # Var = pP + pD - (pP - pD)^2 = 0.5 + 0.2 - 0.09 = 0.61;
    # SE = sqrt(0.61 / 100) = 0.0781025 -> 7.81025 points.
    # 95% CI = 30 +/- 1.959964 * 7.81025 = 30 +/- 15.30781 -> (14.69219, 45.30781).
    scores = [10] * 25 + [9] * 25 + [8] * 15 + [7] * 15 + [6] * 10 + [0] * 10
    result = stats.nps(scores, min_sample=30)
    assert (result.promoters, result.passives, result.detractors) == (50, 30, 20)
    assert result.nps == pytest.approx(30.0)
    assert result.se == pytest.approx(7.81025, abs=1e-4)
    assert result.ci_low == pytest.approx(14.69219, abs=1e-3)
    assert result.ci_high == pytest.approx(45.30781, abs=1e-3)
    assert result.enough


def test_nps_zero_is_a_detractor_and_small_samples_are_flagged() -> None:
    result = stats.nps([0, 6, 7, 8, 9, 10], min_sample=30)
    assert result.detractors == 2 and result.passives == 2 and result.promoters == 2
    assert result.nps == pytest.approx(0.0)
    assert not result.enough


def test_nps_shift_detects_a_real_drop_and_ignores_noise() -> None:
    before = stats.nps([10] * 60 + [8] * 25 + [3] * 15)  # NPS 45
    after = stats.nps([10] * 35 + [8] * 25 + [3] * 40)  # NPS -5
    assert stats.nps_shift(before, after).significant
    same = stats.nps([10] * 58 + [8] * 27 + [3] * 15)
    assert not stats.nps_shift(before, same).significant


def test_ztest_matches_scipy_chi2_contingency() -> None:
    # A pooled two-proportion z-test is the 2x2 chi-square test without continuity correction: z^2 = chi2.
    conv_c, n_c, conv_t, n_t = 480, 5000, 560, 5000
    result = stats.two_proportion_ztest(conv_c, n_c, conv_t, n_t)
    chi2, p, _, _ = sps.chi2_contingency([[conv_c, n_c - conv_c], [conv_t, n_t - conv_t]], correction=False)
    assert result.statistic**2 == pytest.approx(chi2, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.lift == pytest.approx(560 / 480 - 1)
    assert result.lift_low < result.lift < result.lift_high


def test_welch_from_sums_matches_scipy_ttest_ind() -> None:
    rng = np.random.default_rng(3)
    control = rng.normal(10.0, 3.0, 400)
    treatment = rng.normal(10.6, 4.5, 300)
    result = stats.welch_from_sums(
        control.size, control.sum(), (control**2).sum(), treatment.size, treatment.sum(), (treatment**2).sum()
    )
    ref = sps.ttest_ind(treatment, control, equal_var=False)
    assert result.statistic == pytest.approx(ref.statistic, rel=1e-8)
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert result.lift == pytest.approx(treatment.mean() / control.mean() - 1)


def test_holm_adjustment() -> None:
    # Sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(1*0.04, 0.06) = 0.03, 0.06, 0.06 (Holm 1979).
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = stats.holm([0.5, float("nan")])
    assert adjusted[0] == pytest.approx(0.5) and math.isnan(adjusted[1])


def test_srm_flags_a_real_mismatch() -> None:
    # 51,000 vs 49,000 on a 50/50 split: chi2 = 2 * 1000^2 / 50,000 = 40, p ~ 2.5e-10.
    result = stats.srm_check([51_000, 49_000], [0.5, 0.5])
    assert result.chi2 == pytest.approx(40.0)
    assert result.p_value == pytest.approx(sps.chi2.sf(40.0, 1))
    assert result.flagged


def test_srm_does_not_flag_normal_noise() -> None:
    # 50,500 vs 49,500: chi2 = 10, p = 0.0016 -- unusual but above the 0.001 threshold.
    result = stats.srm_check([50_500, 49_500], [0.5, 0.5])
    assert result.chi2 == pytest.approx(10.0)
    assert not result.flagged
    # An uneven configured split that is met exactly is fine too.
    assert not stats.srm_check([9_000, 1_000], [0.9, 0.1]).flagged
