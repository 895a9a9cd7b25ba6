"""Writes for delivery health: the target-date history, first-seen starts, and the delivery insights.

All three run after portfolio writes (hooks.py) and nightly; each is idempotent, so running one twice
changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd
from django.db import transaction
from django.utils import timezone

from insights.kinds import CycleTimeJumpPayload, DeliverySlipPayload
from insights.models import Insight, InsightKind, InsightStatus, Severity
from insights.services import retire_missing, upsert_insight
from productops.core.versions import bump
from productops.portfolio.models import PortfolioItem, StatusCategory, Team

from . import metrics
from .models import TargetDateChange
from .selectors import ROADMAP_KINDS, history_ends, items_frame

log = logging.getLogger(__name__)

SLIP_MIN_DAYS = 7  # a target moved by less than a week is noise, not a slip worth an insight


def record_target_history(now: datetime | None = None, *, source: str = "sync") -> dict[str, int]:
    """Append a row for every current item whose target date differs from its last recorded one (the
    first row of an item is its baseline). Items whose target was cleared get a row with no date."""
    now = now or timezone.now()
    current = PortfolioItem.objects.filter(is_gone=False)
    items = list(current.values_list("pk", "target_date"))
    ends = history_ends(current.values("pk"))
    last = ends["last_to"].to_dict() if not ends.empty else {}
    rows = []
    for pk, target in items:
        if pk not in last:
            if target is not None:
                rows.append(TargetDateChange(item_id=pk, to_date=target, changed_at=now, source=source))
        elif (pd.isna(last[pk]) and target is not None) or (last[pk] != target and not pd.isna(last[pk])):
            previous = None if pd.isna(last[pk]) else last[pk]
            rows.append(
                TargetDateChange(
                    item_id=pk, from_date=previous, to_date=target, changed_at=now, source=source
                )
            )
    TargetDateChange.objects.bulk_create(rows, batch_size=5000)
    baselines = sum(1 for r in rows if r.from_date is None and r.to_date is not None)
    return {"baselines": baselines, "moves": len(rows) - baselines}


def mark_started(now: datetime | None = None) -> int:
    """Items in progress with no start known (neither the tracker's nor a start date) start now: the
    first time productops sees them in progress."""
    return PortfolioItem.objects.filter(
        status_category=StatusCategory.IN_PROGRESS, started_at__isnull=True, start_date__isnull=True
    ).update(started_at=now or timezone.now())


def slip_key(item_id: int) -> str:
    return f"item:{item_id}"


def jump_key(team_id: int, recent_to: str) -> str:
    return f"team:{team_id}:{recent_to}"


def detect_delivery_insights(
    team_ids: Iterable[int] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Slipped initiatives and epics (not done, moved at least a week) and cycle-time jumps per team
    become insights; a slip that is no longer one (target moved back, item done) is resolved."""
    now = now or timezone.now()
    full = team_ids is None
    team_qs = Team.objects.all() if team_ids is None else Team.objects.filter(pk__in=list(team_ids))
    teams = {t.pk: t for t in team_qs}
    counts = {"delivery_slip": 0, "cycle_time_jump": 0}

    roadmap = items_frame(teams.keys(), kinds=ROADMAP_KINDS)
    slips = metrics.slipped(roadmap[roadmap["status_category"] != "done"])
    slips = slips[slips["slip_days"] >= SLIP_MIN_DAYS]
    moves = _moves(slips["id"].tolist())
    items = PortfolioItem.objects.select_related("team", "product").in_bulk(slips["id"].tolist())
    keep: list[str] = []
    for row in slips.itertuples():
        item = items[int(row.id)]
        payload = DeliverySlipPayload(
            item_id=item.pk,
            item_title=item.title,
            item_kind=item.kind,
            team_id=item.team_id,
            team=item.team.name if item.team else "",
            baseline=row.baseline.isoformat(),
            target=row.target_date.isoformat(),
            slip_days=int(row.slip_days),
            moves=moves.get(item.pk, (0, now))[0],
            status=item.status,
        )
        severity = (
            Severity.HIGH if row.slip_days >= 60 else Severity.MEDIUM if row.slip_days >= 21 else Severity.LOW
        )
        upsert_insight(
            InsightKind.DELIVERY_SLIP,
            slip_key(item.pk),
            title=f"{item.get_kind_display()} “{item.title[:200]}” slipped {int(row.slip_days)} days",
            summary=payload.why(),
            severity=severity,
            score=float(row.slip_days),
            starts_at=moves.get(item.pk, (0, now))[1],  # the digest of the week it last moved
            product=item.product,
            team=item.team,
            payload=payload,
        )
        keep.append(slip_key(item.pk))
        counts["delivery_slip"] += 1
    scope = {} if full else {"team_id__in": list(teams)}
    stale = Insight.objects.filter(kind=InsightKind.DELIVERY_SLIP, status=InsightStatus.NEW, **scope).exclude(
        key__in=keep
    )
    stale.update(status=InsightStatus.RESOLVED, updated_at=timezone.now())

    flow = items_frame(teams.keys(), with_baseline=False)
    at = metrics.as_of(flow, now)
    jump_keys: list[str] = []
    for jump in metrics.cycle_time_jumps(flow, at):
        team = teams[jump.team_id]
        jpayload = CycleTimeJumpPayload(
            team_id=team.pk,
            team=team.name,
            recent_median_days=round(jump.recent_median, 1),
            base_median_days=round(jump.base_median, 1),
            recent_n=jump.recent_n,
            base_n=jump.base_n,
            recent_from=jump.recent_from.isoformat(),
            recent_to=jump.recent_to.isoformat(),
        )
        key = jump_key(team.pk, jpayload.recent_to)
        upsert_insight(
            InsightKind.CYCLE_TIME_JUMP,
            key,
            title=f"{team.name}: cycle time up {jump.ratio:.1f}× ({jump.base_median:.1f} → "
            f"{jump.recent_median:.1f} days)",
            summary=jpayload.why(),
            severity=Severity.MEDIUM if jump.ratio < 2.5 else Severity.HIGH,
            score=float(jump.ratio),
            starts_at=datetime.combine(jump.recent_from, datetime.min.time(), tzinfo=UTC),
            ends_at=at.to_pydatetime(),
            team=team,
            payload=jpayload,
        )
        jump_keys.append(key)
        counts["cycle_time_jump"] += 1
    if full:
        retire_missing(InsightKind.CYCLE_TIME_JUMP, jump_keys)
    return counts


def _moves(item_ids: list[int]) -> dict[int, tuple[int, datetime]]:
    """How many times each item's target moved (history rows after the baseline), and when last."""
    out: dict[int, tuple[int, datetime]] = {}
    rows = TargetDateChange.objects.filter(item_id__in=item_ids, from_date__isnull=False).values_list(
        "item_id", "changed_at"
    )
    for item_id, changed_at in rows:
        n, last = out.get(item_id, (0, changed_at))
        out[item_id] = (n + 1, max(last, changed_at))
    return out


def recompute_delivery(now: datetime | None = None) -> dict[str, int]:
    """The whole delivery step: history, starts, insights. Called by the recompute hook."""
    with transaction.atomic():
        counts = record_target_history(now)
        counts["started"] = mark_started(now)
    counts.update(detect_delivery_insights(now=now))
    bump()
    return counts


def slip_frame_for(item_ids: Iterable[int]) -> pd.DataFrame:
    """History rows of some items, oldest first (the item page's timeline)."""
    rows = list(
        TargetDateChange.objects.filter(item_id__in=list(item_ids)).values_list(
            "item_id", "from_date", "to_date", "changed_at", "source"
        )
    )
    return pd.DataFrame(rows, columns=["item_id", "from_date", "to_date", "changed_at", "source"])
