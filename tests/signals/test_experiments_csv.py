"""An experiments CSV (Optimizely or an in-house tool) imports and gets a verdict on the Experiments page."""

from __future__ import annotations

import pytest
from django.test import Client

from insights.feedback.experiments import recompute_experiment_insights
from productops.portfolio.models import Product
from productops.signals.csv_import import import_csv
from productops.signals.models import Experiment, ExperimentResult, Variant

pytestmark = pytest.mark.django_db

# Daily cumulative totals, as an in-house tool exports them: the treatment converts 15% vs 10%.
DAILY = "experiment,variant,date,visitors,conversions\n" + "".join(
    f"checkout-cta,{arm},2026-03-0{day},{400 * day},{int(400 * day * rate)}\n"
    for day in range(1, 6)
    for arm, rate in (("control", 0.10), ("big-button", 0.15))
)

# Final totals of a continuous metric (revenue per visitor), with the start date, as Optimizely shows them.
TOTALS = (
    "Experiment,Variation,Start date,Date,Mean,SD,n,Metric,Baseline\n"
    "pricing-page,original,2026-03-01,2026-03-15,10.0,4.0,5000,revenue,yes\n"
    "pricing-page,annual-first,2026-03-01,2026-03-15,10.1,4.0,5000,revenue,\n"
)


def test_an_experiments_csv_imports_and_gets_a_verdict_on_the_experiments_page(pm_client: Client) -> None:
    product = Product.objects.create(name="Atlas", slug="atlas")
    report = import_csv(DAILY.encode(), "experiments", product_id=product.pk)
    assert (report.rows, report.bad_rows) == (10, 0)
    experiment = Experiment.objects.get(key="checkout-cta")
    assert experiment.product == product and experiment.primary_metric == "conversion"
    assert Variant.objects.get(experiment=experiment, is_control=True).key == "control"
    assert ExperimentResult.objects.filter(experiment=experiment).count() == 10
    assert import_csv(DAILY.encode(), "experiments", product_id=product.pk).inserted == 0  # idempotent

    recompute_experiment_insights()
    html = pm_client.get("/experiments/").content.decode()
    assert "checkout-cta" in html and "verdict-winner" in html
    detail = pm_client.get(f"/experiments/{experiment.pk}/").content.decode()
    assert "big-button" in detail and "verdict-winner" in detail


def test_final_totals_with_a_start_date_and_mean_sd_n() -> None:
    report = import_csv(TOTALS.encode(), "experiments")
    assert (report.rows, report.bad_rows) == (2, 0)
    experiment = Experiment.objects.get(key="pricing-page")
    assert Variant.objects.get(experiment=experiment, is_control=True).key == "original"
    latest = ExperimentResult.objects.get(
        experiment=experiment, variant__key="annual-first", date="2026-03-15"
    )
    assert latest.kind == "continuous" and latest.exposures == 5000
    assert latest.value_sum == pytest.approx(10.1 * 5000)
    assert latest.value_sum_squares == pytest.approx(4999 * 16 + 5000 * 10.1**2)
    # The start date holds the zero totals, so the experiment counts its 15 days.
    assert ExperimentResult.objects.filter(experiment=experiment, date="2026-03-01", exposures=0).count() == 2


def test_rows_without_a_usable_metric_are_row_errors() -> None:
    data = (
        "experiment,variant,exposures,conversions,mean,sd\n"
        "e,control,100,10,,\n"
        "e,b,100,,,\n"  # neither conversions nor mean/sd
        "e,c,100,120,,\n"  # more conversions than exposures
        "e,d,,,3.0,\n"  # mean without sd
    )
    report = import_csv(data.encode(), "experiments")
    assert (report.inserted > 0, report.bad_rows) == (True, 3)
    messages = {e.row: e.message for e in report.errors}
    assert "give conversions" in messages[3]
    assert "more conversions than exposures" in messages[4]
    assert "needs both mean and sd" in messages[5]
