"""Experiment verdicts and health checks on ExperimentResult rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from insights.feedback.experiments import (
    INCONCLUSIVE,
    LOSER,
    NOT_ENOUGH,
    WINNER,
    build_reports,
    recompute_experiment_insights,
)
from insights.models import Insight
from productops.signals.models import Experiment, ExperimentResult, Metric, Variant

from .factories import make_product

START = date(2026, 10, 1)


def _experiment(
    product,
    key: str,
    rates: dict[str, float],
    days: int = 10,
    per_day: int = 1000,
    split: dict[str, float] | None = None,
    exposures: dict[str, int] | None = None,
    surface: str = "checkout",
    metric: str = "checkout_conversion",
    continuous: dict[str, tuple[float, float]] | None = None,
    seed: int = 0,
) -> Experiment:
    rng = np.random.default_rng(seed)
    exp = Experiment.objects.create(
        product=product,
        source_key="test",
        external_id=key,
        key=key,
        name=key.replace("-", " ").title(),
        surface=surface,
        primary_metric=metric,
        traffic_split=split or {k: 1 / len(rates) for k in rates},
        started_at=datetime(2026, 10, 1, tzinfo=UTC),
        status="running",
    )
    variants = {
        k: Variant.objects.create(experiment=exp, key=k, is_control=(i == 0)) for i, k in enumerate(rates)
    }
    rows = []
    for k, rate in rates.items():
        n = conv = 0
        s = ss = 0.0
        for d in range(days):
            n_day = (exposures or {}).get(k, per_day)
            c_day = int(rng.binomial(n_day, rate))
            n, conv = n + n_day, conv + c_day
            rows.append(
                ExperimentResult(
                    experiment=exp,
                    variant=variants[k],
                    metric_key=metric,
                    kind="conversion",
                    date=START + timedelta(days=d),
                    exposures=n,
                    conversions=conv,
                )
            )
            if continuous:
                mean, sd = continuous[k]
                values = rng.normal(mean, sd, n_day)
                s, ss = s + float(values.sum()), ss + float((values**2).sum())
                rows.append(
                    ExperimentResult(
                        experiment=exp,
                        variant=variants[k],
                        metric_key="revenue",
                        kind="continuous",
                        date=START + timedelta(days=d),
                        exposures=n,
                        value_sum=s,
                        value_sum_squares=ss,
                    )
                )
    ExperimentResult.objects.bulk_create(rows)
    return exp


@pytest.mark.django_db
def test_winner_loser_and_inconclusive() -> None:
    product = make_product()
    _experiment(product, "win", {"control": 0.10, "treatment": 0.13}, surface="a")
    _experiment(product, "lose", {"control": 0.10, "treatment": 0.07}, surface="b")
    _experiment(product, "flat", {"control": 0.10, "treatment": 0.10}, surface="c", seed=5)
    reports = {r.experiment.key: r for r in build_reports(Experiment.objects.all())}
    assert reports["win"].verdict == WINNER
    primary = reports["win"].primary
    assert primary is not None and primary.lift_low > 0
    assert reports["lose"].verdict == LOSER
    assert reports["flat"].verdict == INCONCLUSIVE
    for r in reports.values():
        assert r.srm is not None and not r.srm.flagged
        assert not r.collisions


@pytest.mark.django_db
def test_down_is_good_metric_flips_the_verdict() -> None:
    product = make_product()
    Metric.objects.create(
        product=product, source_key="test", external_id="m1", name="Churn", key="churn", good_direction="down"
    )
    _experiment(product, "churn-test", {"control": 0.10, "treatment": 0.07}, metric="churn")
    (report,) = build_reports(Experiment.objects.all())
    assert report.verdict == WINNER


@pytest.mark.django_db
def test_not_enough_data_before_three_days_or_small_samples() -> None:
    product = make_product()
    _experiment(product, "young", {"control": 0.10, "treatment": 0.20}, days=2, surface="a")
    _experiment(product, "tiny", {"control": 0.10, "treatment": 0.20}, days=5, per_day=10, surface="b")
    reports = {r.experiment.key: r for r in build_reports(Experiment.objects.all())}
    young, tiny = reports["young"].primary, reports["tiny"].primary
    assert young is not None and tiny is not None
    assert young.verdict == NOT_ENOUGH and "day" in young.reason
    assert tiny.verdict == NOT_ENOUGH and "exposures" in tiny.reason


@pytest.mark.django_db
def test_continuous_metric_uses_welch_and_holm_over_metrics() -> None:
    product = make_product()
    _experiment(
        product,
        "rev",
        {"control": 0.10, "treatment": 0.10},
        continuous={"control": (20.0, 8.0), "treatment": (21.5, 9.0)},
        seed=2,
    )
    (report,) = build_reports(Experiment.objects.all())
    revenue = next(v for v in report.verdicts if v.metric_key == "revenue")
    conversion = next(v for v in report.verdicts if v.metric_key == "checkout_conversion")
    assert revenue.verdict == WINNER and revenue.kind == "continuous"
    # Holm over the two comparisons: the smaller p-value is doubled, the larger one is kept (if larger).
    smaller, larger = sorted([revenue, conversion], key=lambda v: v.p_value)
    assert smaller.p_adjusted == pytest.approx(min(1.0, 2 * smaller.p_value))
    assert larger.p_adjusted == pytest.approx(max(larger.p_value, smaller.p_adjusted))


@pytest.mark.django_db
def test_srm_collision_and_insights() -> None:
    product = make_product()
    _experiment(
        product, "srm", {"control": 0.10, "treatment": 0.10}, exposures={"control": 1000, "treatment": 900}
    )
    _experiment(product, "other", {"control": 0.10, "treatment": 0.14})  # same surface "checkout", same dates
    reports = {r.experiment.key: r for r in build_reports(Experiment.objects.all())}
    srm = reports["srm"].srm
    assert srm is not None and srm.flagged
    assert reports["other"].srm is not None and not reports["other"].srm.flagged
    assert [e.key for e in reports["srm"].collisions] == ["other"]
    assert any(b["label"] == "Sample-ratio mismatch" for b in reports["srm"].health)
    keys = recompute_experiment_insights()
    assert len(keys) == 2
    srm_insight = Insight.objects.get(key="experiment:test:srm")
    assert "sample-ratio mismatch" in srm_insight.title and srm_insight.severity == 3
    assert recompute_experiment_insights() == keys
    assert Insight.objects.filter(kind="experiment_verdict").count() == 2


@pytest.mark.django_db
def test_peeking_warning_when_verdict_flips_in_the_last_days() -> None:
    product = make_product()
    exp = _experiment(product, "peek", {"control": 0.10, "treatment": 0.10}, days=10)
    # Make the treatment look great only on the last two days (cumulative totals jump).
    for row in ExperimentResult.objects.filter(
        experiment=exp, variant__key="treatment", date__gte=START + timedelta(days=8)
    ):
        row.conversions = (row.conversions or 0) + 400
        row.save()
    (report,) = build_reports([exp])
    assert report.peeking and report.peeking[-1] == WINNER
    assert any(b["label"] == "Verdict flipped" for b in report.health)


@pytest.mark.django_db
def test_multiple_exposure_warning() -> None:
    product = make_product()
    exp = _experiment(product, "multi", {"control": 0.10, "treatment": 0.10})
    for v in exp.variants.all():
        ExperimentResult.objects.create(
            experiment=exp,
            variant=v,
            metric_key="multiple_exposures",
            date=START + timedelta(days=9),
            exposures=10_000,
            conversions=300,
        )
    (report,) = build_reports([exp])
    assert report.multiple_exposure_share == pytest.approx(0.03)
    assert any(b["label"] == "Multiple exposures" for b in report.health)
    assert all(v.metric_key != "multiple_exposures" for v in report.verdicts)
