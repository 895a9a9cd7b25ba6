"""What is new since a user's last digest, and severity that is not inflated.

`apply(user, week, items)` takes the digest's insight items (best first) and returns them:

1. **Collapsed**: a dimension anomaly whose parent event (the metric total, ``payload.parent``) is also in
   the digest folds into that parent's row, and anomalies of one metric that start the same day (a dip
   seen on platform, OS and country at once) fold into their strongest row; the folded ones are named
   under "Also moved", the kept row keeps its own severity.
2. **Fair**: an overlap's severity follows its similarity (a 19 % overlap is not "High").
3. **New or changed only**: an insight already reported to this user in an earlier week's digest shows
   again only when its severity rose, it grew (more events in an incident, a clearly larger anomaly),
   or it is still open REMIND_AFTER after it was last reported; each such item says why
   ("Severity up from High", "Grew: 3 → 5 signals", "Still open since 12 Nov").

New and changed items lead; reminders follow. `remember(user, week, digest)` records what a *sent*
digest reported (`DigestMention`), so previews never mark anything as seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from insights.models import InsightKind, InsightStatus, Severity

from .models import DigestMention

if TYPE_CHECKING:
    from .build import Digest, DigestItem

REMIND_AFTER = dt.timedelta(days=14)
GROWTH = 1.25  # an anomaly 25 % larger (in size or points) than when reported has grown
# Overlap similarity below these caps the severity: under 0.3 Low, under 0.5 Medium.
OVERLAP_CAPS = ((0.3, Severity.LOW), (0.5, Severity.MEDIUM))


def magnitude(kind: str, payload: dict[str, Any]) -> float:
    """How big an insight is, for "it grew": an incident's signals, an anomaly's size or length."""
    if kind == InsightKind.INCIDENT:
        return float(sum(1 for e in payload.get("evidence") or [] if e.get("type") == "anomaly"))
    if kind == InsightKind.ANOMALY:
        size = abs(float(payload.get("size_pct") or 0.0))
        return max(size, 0.0) * 100 + float(payload.get("points") or 0)
    return 0.0


def _label(payload: dict[str, Any]) -> str:
    dim = (
        f"{payload.get('dimension_key')}={payload.get('dimension_value')}"
        if payload.get("dimension_key")
        else ""
    )
    size = payload.get("size_pct")
    change = (
        f" {float(size) * 100:+.0f}%".replace("-", "\N{MINUS SIGN}") if isinstance(size, int | float) else ""
    )
    return (dim or str(payload.get("label") or "")) + change


def _payload(item: DigestItem) -> dict[str, Any]:
    ins = item.insight
    return ins.payload if ins is not None and isinstance(ins.payload, dict) else {}


def collapse(items: list[DigestItem]) -> list[DigestItem]:
    """Fold dimension anomalies into their parent event, and same-day siblings of one metric into the
    strongest of them (items arrive best first)."""
    by_key = {i.insight.key: i for i in items if i.insight is not None}
    folded: dict[int, list[str]] = {}
    keep: list[DigestItem] = []
    lead_of: dict[tuple[Any, str], DigestItem] = {}
    for item in items:
        payload = _payload(item)
        if item.kind != InsightKind.ANOMALY or item.insight is None:
            keep.append(item)
            continue
        parent = by_key.get(str(payload.get("parent") or ""))
        if parent is None and payload.get("metric_id") is not None and item.insight.starts_at is not None:
            group = (payload.get("metric_id"), f"{item.insight.starts_at:%Y-%m-%d}")
            parent = lead_of.get(group)
            if parent is None:
                lead_of[group] = item
        if parent is not None and parent is not item:
            folded.setdefault(id(parent), []).append(_label(payload))
            continue
        keep.append(item)
    for item in keep:
        also = folded.get(id(item))
        if also:
            note = (
                "Also moved: " + ", ".join(also[:6]) + (f" and {len(also) - 6} more" if len(also) > 6 else "")
            )
            item.why = f"{item.why}. {note}" if item.why else note
    return keep


def fair_severity(items: Iterable[DigestItem]) -> None:
    for item in items:
        if item.kind != InsightKind.OVERLAP:
            continue
        payload = _payload(item)
        similarity = payload.get("similarity")
        if not isinstance(similarity, int | float) and item.insight is not None:
            similarity = item.insight.score
        if not isinstance(similarity, int | float):
            continue
        for below, cap in OVERLAP_CAPS:
            if similarity < below:
                if item.severity > cap:
                    item.importance -= (item.severity - cap) * 100
                    item.severity = int(cap)
                break


def _day(when: dt.datetime) -> str:
    return f"{when.day} {when:%b}"


def novelty(user: Any, week: str, items: list[DigestItem], now: dt.datetime) -> list[DigestItem]:
    """Keep what is new or changed since earlier digests, plus long-open reminders; say which is which."""
    ids = [i.insight.pk for i in items if i.insight is not None]
    last: dict[int, DigestMention] = {}
    first: dict[int, dt.datetime] = {}
    for mention in DigestMention.objects.filter(user=user, insight_id__in=ids, week__lt=week).order_by(
        "week"
    ):
        last[mention.insight_id] = mention
        first.setdefault(mention.insight_id, mention.reported_at)
    fresh: list[DigestItem] = []
    reminders: list[DigestItem] = []
    for item in items:
        ins = item.insight
        seen = last.get(ins.pk) if ins is not None else None
        if ins is None or seen is None:
            item.novelty = "New" if ins is not None else ""
            fresh.append(item)
            continue
        grew = magnitude(ins.kind, _payload(item)) >= max(seen.magnitude * GROWTH, seen.magnitude + 1)
        if item.severity > seen.severity:
            item.novelty = f"Severity up from {Severity(seen.severity).label}"
            fresh.append(item)
        elif grew and ins.kind == InsightKind.INCIDENT:
            now_n = int(magnitude(ins.kind, _payload(item)))
            item.novelty = f"Grew: {int(seen.magnitude)} → {now_n} signals"
            fresh.append(item)
        elif grew:
            item.novelty = "Grew since last reported"
            fresh.append(item)
        elif ins.status not in (InsightStatus.RESOLVED,) and now - seen.reported_at >= REMIND_AFTER:
            item.novelty = f"Still open since {_day(first[ins.pk])}"
            reminders.append(item)
    return fresh + reminders


def apply(user: Any, week: str, items: list[DigestItem], now: dt.datetime) -> list[DigestItem]:
    """The digest's insight items, collapsed, fairly rated and reduced to what is new (see module doc)."""
    items = collapse(items)
    fair_severity(items)
    items.sort(key=lambda i: i.importance, reverse=True)
    return novelty(user, week, items, now)


def remember(user: Any, week: str, digest: Digest, now: dt.datetime) -> int:
    """Record what a sent digest reported, so next week's says only what is new. Returns rows written."""
    written = 0
    for section in digest.sections:
        for item in section.items:
            ins = item.insight
            if ins is None:
                continue
            DigestMention.objects.update_or_create(
                user=user,
                insight=ins,
                week=week,
                defaults={
                    "reported_at": now,
                    "severity": item.severity,
                    "magnitude": magnitude(ins.kind, _payload(item)),
                },
            )
            written += 1
    return written
