"""Writing Insight rows so that a recompute updates, never duplicates, and never undoes a PM's triage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from productops.core.versions import bump
from productops.portfolio.models import Product

from .kinds import Payload
from .models import Insight, InsightEvent, InsightStatus

# Fields a recompute may overwrite. Status, muted_until and detected_at belong to the lifecycle.
COMPUTED_FIELDS = {
    "title",
    "summary",
    "severity",
    "score",
    "product",
    "product_id",
    "team",
    "team_id",
    "starts_at",
    "ends_at",
    "payload",
}


def upsert_insight(
    kind: str,
    key: str,
    *,
    team_ids: Iterable[int | None] = (),
    product_ids: Iterable[int | None] = (),
    **fields: Any,
) -> tuple[Insight, bool]:
    """Create or refresh one insight by (kind, key). Returns (insight, created).

    The insight concerns its `product`/`team` plus `product_ids`/`team_ids`, and every team that owns one
    of those products; they are stored in `Insight.products`/`teams`, which every reader filters on.
    A `payload` may be a typed payload from `insights.kinds`; it is stored as a dict.
    """
    bad = set(fields) - COMPUTED_FIELDS
    if bad:
        raise ValueError(f"recompute may not set {sorted(bad)}")
    if isinstance(fields.get("payload"), Payload):
        fields["payload"] = fields["payload"].as_dict()
    with transaction.atomic():
        insight, created = Insight.objects.select_for_update().get_or_create(
            kind=kind, key=key, defaults=fields
        )
        if not created:
            changed = [name for name, value in fields.items() if getattr(insight, name) != value]
            if "severity" in changed:
                insight.previous_severity = insight.severity
                insight.severity_changed_at = timezone.now()
                changed += ["previous_severity", "severity_changed_at"]
            for name in changed:
                if name in fields:
                    setattr(insight, name, fields[name])
            if (
                insight.status == InsightStatus.MUTED
                and insight.muted_until
                and insight.muted_until < timezone.now()
            ):
                insight.status = InsightStatus.NEW
                insight.muted_until = None
                changed += ["status", "muted_until"]
            if changed:
                insight.save(update_fields=[*{c.removesuffix("_id") for c in changed}, "updated_at"])
        _set_concerns(insight, team_ids, product_ids)
    return insight, created


def _set_concerns(
    insight: Insight, team_ids: Iterable[int | None], product_ids: Iterable[int | None]
) -> None:
    products = {p for p in [insight.product_id, *product_ids] if p is not None}
    teams = {t for t in [insight.team_id, *team_ids] if t is not None}
    if products:
        teams |= set(
            Product.teams.through.objects.filter(product_id__in=products).values_list("team_id", flat=True)
        )
    insight.products.set(products)
    insight.teams.set(teams)


def retire_missing(kind: str, keep_keys: Iterable[str], **scope: Any) -> int:
    """Resolve insights of `kind` (within `scope` filters) that a full recompute no longer finds."""
    stale = Insight.objects.filter(kind=kind, status=InsightStatus.NEW, **scope).exclude(
        key__in=list(keep_keys)
    )
    return stale.update(status=InsightStatus.RESOLVED, updated_at=timezone.now())


def transition(insight: Insight, action: str, user: Any, comment: str = "", until: Any = None) -> None:
    """A PM's triage: acknowledge, resolve, mute (until a time, or forever) or reopen."""
    status = {
        "acknowledge": InsightStatus.ACKNOWLEDGED,
        "resolve": InsightStatus.RESOLVED,
        "mute": InsightStatus.MUTED,
        "reopen": InsightStatus.NEW,
    }[action]
    with transaction.atomic():
        insight.status = status
        insight.muted_until = until if status == InsightStatus.MUTED else None
        insight.save(update_fields=["status", "muted_until", "updated_at"])
        InsightEvent.objects.create(insight=insight, user=user, action=action, comment=comment)
        # Cached dashboard pages list insights by status: a triage must show at once.
        bump()


INBOX_SESSION_GAP = timedelta(minutes=30)


def record_inbox_visit(user: Any, now: datetime | None = None) -> datetime | None:
    """Note that `user` opened the inbox; return the start of their previous visit (None on the first):
    insights detected or whose severity moved after it are what is new to them."""
    from .models import InboxVisit

    now = now or timezone.now()
    with transaction.atomic():
        visit = InboxVisit.objects.select_for_update().filter(user=user).first()
        if visit is None:
            InboxVisit.objects.create(user=user, seen_at=now)
            return None
        if now - visit.seen_at > INBOX_SESSION_GAP:
            visit.previous_seen_at = visit.seen_at
        visit.seen_at = now
        visit.save(update_fields=["seen_at", "previous_seen_at"])
        return visit.previous_seen_at
