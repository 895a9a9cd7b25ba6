"""Overlap persistence: decisions survive recomputes, material edits re-open dismissals, hooks, command."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from insights.models import Insight, InsightKind, InsightStatus
from insights.overlaps.models import Decision, OverlapPair
from insights.overlaps.services import compute_overlaps, decide
from insights.recompute import RecomputeScope, run
from productops.portfolio.models import Dependency, PortfolioItem, Product, Team
from productops.signals.models import Experiment

from .overlap_fixtures import EXPERIMENTS, ITEMS

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio(db: Any) -> dict[str, Any]:
    product = Product.objects.create(name="App", slug="app")
    teams = {slug: Team.objects.create(name=slug.title(), slug=slug) for slug in {t[1] for t in ITEMS}}
    items = {}
    for key, team, title, desc, comps, labels, start, end, status in ITEMS:
        items[key] = PortfolioItem.objects.create(
            source_key="manual",
            external_id=key,
            kind="epic",
            title=title,
            description=desc,
            team=teams[team],
            product=product,
            components=comps,
            labels=labels,
            start_date=start,
            target_date=end,
            status_category=status,
            url=f"https://tracker.example.com/{key}",
            tracker="jira",
        )
    for exp in EXPERIMENTS:
        Experiment.objects.create(
            source_key="manual",
            external_id=exp["key"],
            key=exp["key"],
            name=exp["name"],
            product=product,
            team=teams[exp["team"]],
            surface=exp["surface"],
            primary_metric=exp["metric"],
            started_at=timezone.make_aware(datetime.combine(exp["start"], datetime.min.time())),
            ended_at=timezone.make_aware(datetime.combine(exp["end"], datetime.min.time())),
            status="finished",
        )
    return {"product": product, "teams": teams, "items": items}


def _pair(items: dict[str, PortfolioItem], a: str, b: str) -> OverlapPair:
    return OverlapPair.objects.get(key=OverlapPair.make_key(f"item:{items[a].pk}", f"item:{items[b].pk}"))


def test_compute_stores_pairs_and_overlap_insights(portfolio: dict[str, Any]) -> None:
    run_ = compute_overlaps()
    items = portfolio["items"]
    assert run_.pairs >= 4
    dup = _pair(items, "PAY-1", "GRO-7")
    assert dup.kind == "duplicate" and dup.active and dup.decision == Decision.OPEN
    assert {dup.team_a_id, dup.team_b_id} == {
        portfolio["teams"]["payments"].pk,
        portfolio["teams"]["growth"].pk,
    }
    assert OverlapPair.objects.filter(kind="conflict", experiment_a__isnull=False).count() == 1
    insight = Insight.objects.get(kind=InsightKind.OVERLAP, key=f"overlap:{dup.key}")
    assert "csv" in insight.summary and insight.payload["pair_id"] == dup.pk
    # A second run updates, never duplicates.
    compute_overlaps()
    assert (
        Insight.objects.filter(kind=InsightKind.OVERLAP).count()
        == OverlapPair.objects.filter(active=True).count()
    )


def test_dismissal_persists_across_recompute(portfolio: dict[str, Any], pm_user: Any) -> None:
    compute_overlaps()
    pair = _pair(portfolio["items"], "PAY-1", "GRO-7")
    decide(pair, "dismiss", pm_user)
    # A trivial edit (not material) and two recomputes later, still dismissed and muted.
    item = portfolio["items"]["GRO-7"]
    item.description += " "
    item.save()
    compute_overlaps()
    compute_overlaps()
    pair.refresh_from_db()
    assert pair.decision == Decision.DISMISSED and pair.reopened_at is None
    insight = Insight.objects.get(kind=InsightKind.OVERLAP, key=f"overlap:{pair.key}")
    assert insight.status == InsightStatus.MUTED


def test_material_edit_reopens_a_dismissed_pair(portfolio: dict[str, Any], pm_user: Any) -> None:
    compute_overlaps()
    pair = _pair(portfolio["items"], "PAY-1", "GRO-7")
    decide(pair, "dismiss", pm_user)
    item = portfolio["items"]["GRO-7"]
    item.title = "Invoice CSV export for finance, with scheduled delivery"
    item.description = "Finance gets every invoice as a CSV file by email each month, tax lines included."
    item.save()
    compute_overlaps()
    pair.refresh_from_db()
    assert pair.active and pair.decision == Decision.OPEN and pair.reopened_at is not None
    insight = Insight.objects.get(kind=InsightKind.OVERLAP, key=f"overlap:{pair.key}")
    assert insight.status == InsightStatus.NEW


def test_confirm_is_kept_and_link_creates_dependency(portfolio: dict[str, Any], pm_user: Any) -> None:
    compute_overlaps()
    items = portfolio["items"]
    dup = _pair(items, "PAY-1", "GRO-7")
    decide(dup, "confirm", pm_user)
    hidden = _pair(items, "MOB-9", "PLAT-42")
    assert hidden.kind == "hidden_dependency"
    decide(hidden, "link", pm_user)
    dep = Dependency.objects.get()
    assert (dep.from_item, dep.to_item) == (items["MOB-9"], items["PLAT-42"])
    compute_overlaps()
    dup.refresh_from_db()
    hidden.refresh_from_db()
    assert dup.decision == Decision.CONFIRMED and dup.decided_by == pm_user
    assert hidden.decision == Decision.LINKED and not hidden.active  # recorded now, so no longer hidden


def test_incremental_hook_after_portfolio_sync(portfolio: dict[str, Any]) -> None:
    assert "overlaps" in run(RecomputeScope(families={"portfolio"}))  # first run: full
    before = OverlapPair.objects.count()
    start = timezone.now()
    new = PortfolioItem.objects.create(
        source_key="manual",
        external_id="MOB-11",
        kind="epic",
        title="Export invoices as CSV for finance in the app",
        description="CSV export of invoices with tax.",
        team=portfolio["teams"]["mobile"],
        product=portfolio["product"],
        last_seen_at=start + timedelta(seconds=1),
    )
    ran = run(RecomputeScope(families={"portfolio"}, since=start))
    assert "overlaps" in ran
    ref = f"item:{new.pk}"
    assert OverlapPair.objects.count() > before
    assert OverlapPair.objects.filter(a_ref=ref).exists() or OverlapPair.objects.filter(b_ref=ref).exists()
    # Pairs not touching the changed item were left alone by the incremental run.
    assert _pair(portfolio["items"], "PAY-1", "GRO-7").active
    assert run(RecomputeScope(families={"metrics"})) == [] or "overlaps" not in run(
        RecomputeScope(families={"metrics"})
    )


def test_find_overlaps_command(portfolio: dict[str, Any]) -> None:
    out = StringIO()
    call_command("find_overlaps", stdout=out)
    assert "pairs found" in out.getvalue()
    assert OverlapPair.objects.filter(active=True).count() >= 4


def test_nightly_task_is_scheduled_and_runs(portfolio: dict[str, Any]) -> None:
    from insights.overlaps.tasks import find_all_overlaps
    from insights.recompute import hooks
    from insights.tasks import recompute_all
    from productops.celery import BEAT_SCHEDULE

    # The nightly full run is the one crontab that recomputes every insight family, overlaps included.
    entry = next(e for e in BEAT_SCHEDULE.values() if e["task"] == recompute_all.name)
    assert type(entry["schedule"]).__name__ == "crontab"
    assert "overlaps" in hooks()
    assert "overlaps" in recompute_all()
    assert find_all_overlaps() >= 4
