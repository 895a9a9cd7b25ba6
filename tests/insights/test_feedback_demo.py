"""Scored against the demo dataset's planted ground truth (productops.signals.demo)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from insights.feedback import nps, selectors, services
from insights.feedback.experiments import (
    INCONCLUSIVE,
    LOSER,
    NOT_ENOUGH,
    WINNER,
    build_reports,
    recompute_experiment_insights,
)
from insights.feedback.models import EvidenceLink, Theme, ThemeMember
from insights.models import Insight
from productops.portfolio.models import Product
from productops.signals.demo import seed
from productops.signals.models import Experiment, NpsResponse, SupportTicket
from tests.demo_data import wipe_demo


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Seed once, run the recompute hooks' work once; shared by this module."""
    with django_db_blocker.unblock():
        wipe_demo()
        # Metrics are not read here; skipping them saves most of the seeding time.
        truth = seed(seed=7, only={"portfolio", "feedback", "experiments"})
        services.recompute_feedback(full=True)
        nps.recompute_nps_insights()
        recompute_experiment_insights()
        yield truth
        wipe_demo()


def _reports() -> dict[str, Any]:
    return {r.experiment.key: r for r in build_reports(Experiment.objects.prefetch_related("variants"))}


@pytest.mark.django_db
def test_srm_experiment_is_flagged(demo: dict[str, Any]) -> None:
    reports = _reports()
    srm_key = demo["experiments"]["srm"]
    assert reports[srm_key].srm.flagged
    flagged = {key for key, r in reports.items() if r.srm and r.srm.flagged}
    assert flagged == {srm_key}
    insight = Insight.objects.get(kind="experiment_verdict", key=f"experiment:demo:{srm_key}")
    assert "sample-ratio mismatch" in insight.title


@pytest.mark.django_db
def test_clear_winner_is_found_and_inconclusive_ones_are_not_called(demo: dict[str, Any]) -> None:
    reports = _reports()
    win = demo["experiments"]["winner"]
    report = reports[win["experiment"]]
    verdict = next(
        v for v in report.verdicts if v.metric_key == win["metric"] and v.variant == win["variant"]
    )
    assert verdict.verdict == WINNER and verdict.lift_low > 0
    for key in demo["experiments"]["inconclusive"]:
        assert reports[key].verdict in (INCONCLUSIVE, NOT_ENOUGH), key
        assert all(
            v.verdict != LOSER or v.metric_key != reports[key].experiment.primary_metric
            for v in reports[key].verdicts
        )


@pytest.mark.django_db
def test_collision_on_the_shared_surface(demo: dict[str, Any]) -> None:
    reports = _reports()
    a, b = demo["experiments"]["collision"]
    assert [e.key for e in reports[a].collisions] == [b]
    assert [e.key for e in reports[b].collisions] == [a]


def _spike_theme(truth: dict[str, Any]) -> Theme:
    spike = truth["ticket_spike"]
    start, end = date.fromisoformat(spike["start"]), date.fromisoformat(spike["end"])
    # Tags filtered in Python: JSON containment lookups are not available on SQLite.
    ids = [
        pk
        for pk, tags in SupportTicket.objects.filter(
            product__slug=spike["product"], opened_at__date__range=(start, end)
        ).values_list("id", "tags")
        if spike["tag"] in tags
    ]
    theme_ids = pd.Series(
        list(
            ThemeMember.objects.filter(source="ticket", object_id__in=ids).values_list("theme_id", flat=True)
        )
    )
    assert not theme_ids.empty, "the spike tickets joined no theme"
    return Theme.objects.get(pk=int(theme_ids.mode()[0]))


@pytest.mark.django_db
def test_ticket_spike_becomes_a_theme_with_a_weekly_spike(demo: dict[str, Any]) -> None:
    spike = demo["ticket_spike"]
    theme = _spike_theme(demo)
    assert spike["phrase"] in theme.label.lower()
    frame = selectors.theme_volume_frame()
    series = frame[frame["series_id"] == f"theme:{theme.pk}"].set_index("ts")["value"]
    peak = series.idxmax().date()
    assert date.fromisoformat(spike["start"]) - timedelta(days=6) <= peak <= date.fromisoformat(spike["end"])
    assert series.max() > 3 * series.median()
    flagged = {s["theme_id"]: s for s in selectors.theme_spikes(frame)}
    assert set(flagged) == {theme.pk}, "only the planted spike should be flagged"
    insight = Insight.objects.get(kind="theme", key__startswith=f"theme:{theme.pk}:")
    assert insight.payload["quotes"]

    # The anomaly detector reads the theme's weekly volume too: the spike becomes an anomaly.
    from insights.anomalies.services import run_detection

    run_detection(include_metrics=False)
    anomaly = Insight.objects.filter(kind="anomaly", payload__series_id=f"theme:{theme.pk}").first()
    assert anomaly is not None, "the theme's spike is not an anomaly"
    assert anomaly.starts_at is not None
    assert (
        date.fromisoformat(spike["start"]) - timedelta(days=7)
        <= anomaly.starts_at.date()
        <= date.fromisoformat(spike["end"])
    )


@pytest.mark.django_db
def test_spike_theme_links_to_the_right_portfolio_item(demo: dict[str, Any]) -> None:
    theme = _spike_theme(demo)
    top = EvidenceLink.objects.filter(theme=theme).order_by("-score").select_related("item").first()
    assert top is not None and top.item.external_id == demo["ticket_spike"]["portfolio_item"]
    evidence = selectors.item_evidence(top.item_id)
    assert evidence["counts"].get("ticket", 0) >= 100


@pytest.mark.django_db
def test_nps_shift_is_an_insight(demo: dict[str, Any]) -> None:
    shift = demo["nps_shift"]
    product = Product.objects.get(slug=shift["product"])
    insights = list(Insight.objects.filter(kind="nps_shift", product=product))
    assert insights, "no NPS shift found for the planted product"
    start = date.fromisoformat(shift["start"])
    hit = [
        i
        for i in insights
        if i.starts_at
        and start - timedelta(days=31) <= i.starts_at.date() <= date.fromisoformat(shift["end"])
    ]
    assert hit and all(i.payload["delta"] < 0 for i in hit)
    others = Insight.objects.filter(kind="nps_shift").exclude(product=product)
    assert not others.exists(), [i.title for i in others]


# Tokens that only exist as the front half of a contraction cut at its apostrophe.
CONTRACTION_FRAGMENTS = {
    "don",
    "doesn",
    "didn",
    "isn",
    "aren",
    "wasn",
    "weren",
    "shouldn",
    "couldn",
    "wouldn",
    "hasn",
    "haven",
    "hadn",
    "mustn",
    "needn",
    "ve",
    "ll",
}
# A label that names a failure: what a complaint theme reads like.
FAILURE = re.compile(
    r"\b(fail\w*|broken|break\w*|errors?|crash\w*|bugs?|declined|wrong|missing|slow|stuck|not working|"
    r"can't|cannot|doesn't|don't|won't|never|denied|invalid|late|times? out|empty|blurry|lost|loses|"
    r"disappeared|gone|disabled|overflow\w*|duplicated|twice|echo|freezes|choppy|compressed)\b",
    re.IGNORECASE,
)


@pytest.mark.django_db
def test_theme_labels_read_like_a_pm_wrote_them(demo: dict[str, Any]) -> None:
    themes = list(Theme.objects.filter(status="active"))
    assert len(themes) >= 10
    by_product: dict[int | None, list[str]] = {}
    for theme in themes:
        tokens = {t.lower() for t in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", theme.label)}
        assert not tokens & CONTRACTION_FRAGMENTS, theme.label
        assert 2 <= len(theme.label.split()) <= 14, theme.label
        by_product.setdefault(theme.product_id, []).append(theme.label.lower())
    for labels in by_product.values():
        assert len(labels) == len(set(labels)), sorted(labels)
    # Contractions and negations survive whole.
    assert any("don't" in label or "doesn't" in label for labels in by_product.values() for label in labels)


@pytest.mark.django_db
def test_praise_is_not_filed_under_a_complaint_theme(demo: dict[str, Any]) -> None:
    promoters = list(NpsResponse.objects.filter(score__gte=9, sentiment__gt=0).values_list("id", flat=True))
    rows = list(
        ThemeMember.objects.filter(source="nps", object_id__in=promoters).values_list("theme__label", "quote")
    )
    assert len(rows) >= 100, "promoters should join praise themes"
    misfiled = [(label, quote) for label, quote in rows if FAILURE.search(label)]
    assert not misfiled, misfiled[:5]
    # The complaint theme of the planted ticket spike holds no praise at all.
    spike = _spike_theme(demo)
    assert not ThemeMember.objects.filter(theme=spike, source="nps", object_id__in=promoters).exists()
