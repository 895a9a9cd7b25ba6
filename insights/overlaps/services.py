"""Writes for overlaps: compute and store pairs, keep PM decisions, mirror them as Insight rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone

from insights.kinds import OverlapPayload
from insights.models import Insight, InsightKind, InsightStatus, Severity
from insights.services import transition, upsert_insight
from productops.portfolio.models import Dependency, DependencyKind, PortfolioItem, Team

from . import selectors
from .detect import Kind, Overlap, OverlapItem, find_overlaps
from .models import Decision, OverlapPair, OverlapRun
from .selectors import EXPERIMENT, ITEM, parse_ref
from .similarity import vectorize

log = logging.getLogger(__name__)

# A dismissed pair comes back when either item's text is less than this similar to what it said at
# dismissal (it was rewritten, not just re-typed), or when the pair's similarity rose by REOPEN_SCORE_RISE.
REOPEN_CONTENT_SIMILARITY = 0.8
REOPEN_SCORE_RISE = 0.15
SEVERITY = {
    Kind.DUPLICATE: Severity.HIGH,
    Kind.CONFLICT: Severity.HIGH,
    Kind.HIDDEN_DEPENDENCY: Severity.MEDIUM,
    Kind.RELATED: Severity.LOW,
}


class OverlapActionError(Exception):
    """A PM action that cannot apply to this pair; the message says why and what to do."""


def _aware(day: date | None) -> datetime | None:
    return timezone.make_aware(datetime.combine(day, time.min)) if day else None


def _content_changed(before: str, after: str) -> bool:
    if before == after:
        return False
    if not before.strip() or not after.strip():
        return True
    vectors = vectorize([before, after])
    return float(vectors[0].multiply(vectors[1]).sum()) < REOPEN_CONTENT_SIMILARITY


def _fk_fields(ref: str, side: str) -> dict[str, Any]:
    kind, pk = parse_ref(ref)
    return {
        f"item_{side}_id": pk if kind == ITEM else None,
        f"experiment_{side}_id": pk if kind == EXPERIMENT else None,
    }


def _team_id(item: OverlapItem) -> int | None:
    return int(item.team) if item.team else None


def _insight_title(pair: OverlapPair, by_ref: dict[str, OverlapItem], teams: dict[int, str]) -> str:
    a, b = by_ref.get(pair.a_ref), by_ref.get(pair.b_ref)
    label = Kind.LABELS.get(pair.kind, pair.kind)
    if a is None or b is None:
        return label
    team_a = teams.get(_team_id(a) or 0, "no team")
    team_b = teams.get(_team_id(b) or 0, "no team")
    return f"{label}: “{a.title}” ({team_a}) and “{b.title}” ({team_b})"[:500]


def _sync_insight(pair: OverlapPair, title: str, product_ids: Iterable[int | None] = ()) -> None:
    key = f"overlap:{pair.key}"
    if not pair.active:
        Insight.objects.filter(kind=InsightKind.OVERLAP, key=key, status=InsightStatus.NEW).update(
            status=InsightStatus.RESOLVED, updated_at=timezone.now()
        )
        return
    insight, _ = upsert_insight(
        InsightKind.OVERLAP,
        key,
        title=title,
        summary=pair.explanation,
        severity=SEVERITY.get(pair.kind, Severity.LOW),
        score=pair.score,
        product_id=pair.product_id,
        team_id=pair.team_a_id,
        # Both teams (and both items' products): each team's overview, inbox and digest show the overlap.
        team_ids=[pair.team_a_id, pair.team_b_id],
        product_ids=product_ids,
        starts_at=_aware(pair.overlap_start),
        ends_at=_aware(pair.overlap_end),
        payload=OverlapPayload(
            pair_id=pair.pk, kind=pair.kind, a=pair.a_ref, b=pair.b_ref, details=pair.details
        ),
    )
    if pair.decision == Decision.DISMISSED and insight.status != InsightStatus.MUTED:
        transition(insight, "mute", None, comment="dismissed as not an overlap")
    elif pair.decision == Decision.OPEN and insight.status == InsightStatus.MUTED and pair.reopened_at:
        transition(insight, "reopen", None, comment="items changed materially since the dismissal")


def store(
    overlaps: Iterable[Overlap], items: list[OverlapItem], *, scope_refs: set[str] | None, run: OverlapRun
) -> OverlapRun:
    """Upsert found pairs, deactivate pairs in scope that are no longer found, honour PM decisions.

    `scope_refs` None means a full run (every pair is in scope); otherwise only pairs touching those refs.
    """
    by_ref = {it.ref: it for it in items}
    now = timezone.now()
    found = {OverlapPair.make_key(o.a, o.b): o for o in overlaps}
    existing_qs = OverlapPair.objects.all()
    if scope_refs is not None:
        refs = list(scope_refs)
        existing_qs = existing_qs.filter(a_ref__in=refs) | existing_qs.filter(b_ref__in=refs)
    existing = {p.key: p for p in existing_qs}
    existing.update({p.key: p for p in OverlapPair.objects.filter(key__in=list(found))})
    teams = dict(Team.objects.values_list("pk", "name"))
    reopened = 0
    touched: list[OverlapPair] = []
    with transaction.atomic():
        for key, ov in found.items():
            a_ref, b_ref = sorted((ov.a, ov.b))
            a, b = by_ref[a_ref], by_ref[b_ref]
            fields: dict[str, Any] = {
                "a_ref": a_ref,
                "b_ref": b_ref,
                **_fk_fields(a_ref, "a"),
                **_fk_fields(b_ref, "b"),
                "team_a_id": _team_id(a),
                "team_b_id": _team_id(b),
                "product_id": int(a.product) if a.product else (int(b.product) if b.product else None),
                "kind": ov.kind,
                "score": ov.score,
                "similarity": ov.similarity,
                "explanation": ov.explanation,
                "details": ov.as_dict() | {"from": ov.a, "to": ov.b},
                "overlap_start": ov.overlap_start,
                "overlap_end": ov.overlap_end,
                "active": True,
                "last_seen_at": now,
            }
            pair = existing.get(key)
            if pair is None:
                pair = OverlapPair(key=key, first_seen_at=now, **fields)
            else:
                for name, value in fields.items():
                    setattr(pair, name, value)
                if pair.decision == Decision.DISMISSED and _materially_changed(pair, a, b, ov.similarity):
                    pair.decision = Decision.OPEN
                    pair.reopened_at = now
                    reopened += 1
            pair.save()
            touched.append(pair)
        gone = [p for k, p in existing.items() if k not in found and p.active]
        for pair in gone:
            pair.active = False
            pair.save(update_fields=["active"])
        for pair in touched:
            _sync_insight(pair, _insight_title(pair, by_ref, teams), _product_ids(pair, by_ref))
        for pair in gone:
            _sync_insight(pair, "")
    run.finished_at = timezone.now()
    run.pairs = len(found)
    run.reopened = reopened
    run.items = len(items)
    run.save()
    return run


def _product_ids(pair: OverlapPair, by_ref: dict[str, OverlapItem]) -> list[int | None]:
    sides = [by_ref.get(pair.a_ref), by_ref.get(pair.b_ref)]
    return [int(it.product) if it is not None and it.product else None for it in sides]


def _materially_changed(pair: OverlapPair, a: OverlapItem, b: OverlapItem, similarity: float) -> bool:
    if pair.snapshot_similarity is not None and similarity - pair.snapshot_similarity >= REOPEN_SCORE_RISE:
        return True
    return _content_changed(pair.snapshot_a, selectors.content_text(a)) or _content_changed(
        pair.snapshot_b, selectors.content_text(b)
    )


def compute_overlaps(*, changed: set[str] | None = None) -> OverlapRun:
    """Find and store overlaps: everything (changed=None) or only pairs touching the `changed` refs."""
    run = OverlapRun.objects.create(full=changed is None)
    items = selectors.overlap_items()
    if changed is not None and not changed:
        return store([], items, scope_refs=set(), run=run)
    overlaps = find_overlaps(items, only=changed)
    log.info(
        "overlaps: %d items, %d pairs (%s)",
        len(items),
        len(overlaps),
        "full" if changed is None else "incremental",
    )
    return store(overlaps, items, scope_refs=changed, run=run)


def decide(pair: OverlapPair, action: str, user: Any) -> OverlapPair:
    """A PM's call on a pair: confirm, dismiss, link (as a dependency) or reopen. Survives recomputes."""
    insight = Insight.objects.filter(kind=InsightKind.OVERLAP, key=f"overlap:{pair.key}").first()
    with transaction.atomic():
        if action == "confirm":
            pair.decision = Decision.CONFIRMED
            insight_action = "acknowledge"
        elif action == "dismiss":
            items = {it.ref: it for it in selectors.overlap_items() if it.ref in (pair.a_ref, pair.b_ref)}
            pair.decision = Decision.DISMISSED
            pair.snapshot_a = selectors.content_text(items[pair.a_ref]) if pair.a_ref in items else ""
            pair.snapshot_b = selectors.content_text(items[pair.b_ref]) if pair.b_ref in items else ""
            pair.snapshot_similarity = pair.similarity
            pair.reopened_at = None
            insight_action = "mute"
        elif action == "link":
            if pair.item_a_id is None or pair.item_b_id is None:
                raise OverlapActionError(
                    "Only two portfolio items can be linked as a dependency; for experiments, confirm the "
                    "collision and ask the teams to stagger them."
                )
            from_ref = pair.details.get("from", pair.a_ref)
            from_id, to_id = (
                (pair.item_a_id, pair.item_b_id)
                if from_ref == pair.a_ref
                else (pair.item_b_id, pair.item_a_id)
            )
            Dependency.objects.get_or_create(
                from_item=PortfolioItem.objects.get(pk=from_id),
                to_item=PortfolioItem.objects.get(pk=to_id),
                kind=DependencyKind.BLOCKS if pair.kind == Kind.HIDDEN_DEPENDENCY else DependencyKind.RELATES,
                defaults={"source_key": "overlaps"},
            )
            pair.decision = Decision.LINKED
            insight_action = "resolve"
        elif action == "reopen":
            pair.decision = Decision.OPEN
            insight_action = "reopen"
        else:
            raise OverlapActionError(f"Unknown action {action!r}: use confirm, dismiss, link or reopen.")
        pair.decided_by = user if getattr(user, "is_authenticated", False) else None
        pair.decided_at = timezone.now()
        pair.save()
        if insight is not None:
            transition(insight, insight_action, pair.decided_by, comment=f"overlap {action}")
    return pair
