"""Computing key results from their metrics, flagging the ones at risk as insights, and aligning
portfolio work to key results (hand links, matcher suggestions and a PM's decisions)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from insights.kinds import GoalAtRiskPayload
from insights.models import Insight, InsightKind, InsightStatus, Severity
from insights.services import retire_missing, upsert_insight
from productops.core.versions import bump
from productops.portfolio.models import ItemKind, PortfolioItem
from productops.signals.models import MetricPoint

from . import forecast
from .models import Alignment, AlignmentStatus, KeyResult, KeyResultCheckIn, KrStatus

log = logging.getLogger(__name__)

HISTORY_DAYS = 120  # read this much before the period, so a young period still has a trend to fit
# The matcher's suggestions: the best few key results per item above this cosine similarity.
SUGGEST_MIN_SCORE = 0.18
SUGGEST_PER_ITEM = 2
ALIGNABLE_KINDS = (ItemKind.INITIATIVE, ItemKind.EPIC)


def _aware(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- Key results from data ---------------------------------------------------------------------------


def daily_values(kr: KeyResult) -> pd.Series:
    """The bound metric's daily values (for its dimension value, else the total) around the period,
    each day aggregated the way the metric is (sum for counts, mean for rates, last for levels)."""
    if kr.metric is None:
        return pd.Series(dtype=float)
    period = kr.objective
    start = _aware(period.period_start - timedelta(days=HISTORY_DAYS))
    end = _aware(period.period_end + timedelta(days=1))
    rows = list(
        MetricPoint.objects.filter(
            metric_id=kr.metric.pk,
            dimension_key=kr.dimension_key if kr.dimension_value else "",
            dimension_value=kr.dimension_value if kr.dimension_key else "",
            ts__gte=start,
            ts__lt=end,
        )
        .order_by("ts")
        .values_list("ts", "value")
    )
    if not rows:
        return pd.Series(dtype=float)
    frame = pd.DataFrame(rows, columns=["ts", "value"])
    frame["day"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None).dt.normalize()
    how = {"sum": "sum", "mean": "mean", "last": "last"}.get(kr.metric.aggregation, "sum")
    return frame.groupby("day")["value"].agg(how)


@dataclass
class Evaluation:
    key_result: KeyResult
    projection: forecast.Projection | None
    at_risk: bool


def evaluate(kr: KeyResult) -> Evaluation:
    """Recompute one key result's current value, status and projection (and save them)."""
    fields = ["current_value", "status", "projection", "computed_at"]
    if not kr.is_bound:
        last = kr.check_ins.exclude(value=None).order_by("-created_at", "-pk").first()
        kr.current_value = last.value if last else None
        kr.status = KrStatus.MANUAL
        kr.projection = {}
        kr.computed_at = timezone.now()
        kr.save(update_fields=fields)
        return Evaluation(kr, None, False)
    projection = forecast.project(
        daily_values(kr), kr.objective.period_start, kr.objective.period_end, kr.aggregation
    )
    risky = False
    if projection is None:
        kr.status = KrStatus.NO_DATA
        kr.current_value = None
        kr.projection = {}
    else:
        risky = forecast.at_risk(kr.start_value, kr.target_value, projection.low, projection.high)
        kr.status = KrStatus.AT_RISK if risky else KrStatus.ON_TRACK
        kr.current_value = projection.observed
        kr.projection = {
            **projection.as_dict(),
            "explanation": forecast.explain(projection, kr.start_value, kr.target_value, kr.unit),
        }
    kr.computed_at = timezone.now()
    kr.save(update_fields=fields)
    return Evaluation(kr, projection, risky)


def insight_key(kr_id: int) -> str:
    return f"kr:{kr_id}"


def _write_insight(ev: Evaluation) -> None:
    kr, p = ev.key_result, ev.projection
    assert p is not None
    objective = kr.objective
    span = abs(kr.target_value - kr.start_value) or 1.0
    # How far short the optimistic end of the interval falls, relative to the distance to the target.
    shortfall = (kr.target_value - p.high) if kr.target_value >= kr.start_value else (p.low - kr.target_value)
    severity = Severity.HIGH if shortfall / span > 0.5 else Severity.MEDIUM
    upsert_insight(
        InsightKind.GOAL_AT_RISK,
        insight_key(kr.pk),
        title=f"Key result at risk: {kr.title}",
        summary=kr.projection.get("explanation", ""),
        severity=severity,
        score=float(shortfall / span),
        product=objective.product,
        team=objective.team,
        product_ids=[kr.metric.product_id if kr.metric else None],  # a company goal: the metric's product
        starts_at=_aware(objective.period_start),
        ends_at=_aware(objective.period_end),
        payload=GoalAtRiskPayload(
            key_result_id=kr.pk,
            objective_id=objective.pk,
            objective=objective.title,
            start_value=kr.start_value,
            target=kr.target_value,
            projected=p.projected,
            low=p.low,
            high=p.high,
            unit=kr.unit,
            period_end=objective.period_end.isoformat(),
            level=p.level,
        ),
    )


def _scoped(metric_ids: Iterable[int] | None, product_ids: Iterable[int] | None) -> QuerySet[KeyResult]:
    qs = KeyResult.objects.select_related("objective", "objective__product", "objective__team", "metric")
    if metric_ids is None and product_ids is None:
        return qs
    cond = Q()
    if metric_ids is not None:
        cond |= Q(metric_id__in=list(metric_ids))
    if product_ids is not None:
        products = list(product_ids)
        cond |= Q(metric__product_id__in=products) | Q(objective__product_id__in=products)
    return qs.filter(cond)


def recompute_key_results(
    metric_ids: Iterable[int] | None = None, product_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """Evaluate the key results the scope touches (all when unscoped) and keep their insights in step:
    an at-risk key result has an open insight; one back on track has it resolved (a PM's mute or
    acknowledgement is kept)."""
    full = metric_ids is None and product_ids is None
    counts = {"evaluated": 0, "at_risk": 0}
    keep: list[str] = []
    calm: list[str] = []
    for kr in _scoped(metric_ids, product_ids):
        ev = evaluate(kr)
        counts["evaluated"] += 1
        if ev.at_risk:
            counts["at_risk"] += 1
            keep.append(insight_key(kr.pk))
            _write_insight(ev)
        else:
            calm.append(insight_key(kr.pk))
    if calm:
        Insight.objects.filter(kind=InsightKind.GOAL_AT_RISK, key__in=calm, status=InsightStatus.NEW).update(
            status=InsightStatus.RESOLVED, updated_at=timezone.now()
        )
    if full:
        retire_missing(InsightKind.GOAL_AT_RISK, keep)
    if counts["evaluated"]:
        bump()
    return counts


def refresh(kr: KeyResult) -> Evaluation:
    """After a hand edit: evaluate one key result and its insight at once."""
    kr = _scoped(None, None).get(pk=kr.pk)
    ev = evaluate(kr)
    if ev.at_risk:
        _write_insight(ev)
    else:
        Insight.objects.filter(
            kind=InsightKind.GOAL_AT_RISK, key=insight_key(kr.pk), status=InsightStatus.NEW
        ).update(status=InsightStatus.RESOLVED, updated_at=timezone.now())
    bump()
    return ev


def check_in(kr: KeyResult, user: Any, value: float | None, comment: str) -> KeyResultCheckIn:
    with transaction.atomic():
        entry = KeyResultCheckIn.objects.create(key_result=kr, value=value, comment=comment, author=user)
    refresh(kr)
    return entry


# --- Alignment -----------------------------------------------------------------------------------------


def kr_text(kr: KeyResult) -> str:
    o = kr.objective
    return " ".join(x for x in (o.title, o.description, kr.title) if x)


def item_text(item: PortfolioItem) -> str:
    return " ".join(x for x in (item.title, item.description, " ".join(map(str, item.labels or []))) if x)


def suggest_alignments() -> dict[str, int]:
    """Match open epics/initiatives to key results by text (insights.overlaps' `match`), and keep the
    suggestions in step: new matches are suggested, stale suggestions dropped. Confirmed and rejected
    pairs are a PM's decisions and are never touched, nor suggested again."""
    from insights.overlaps.similarity import match

    krs = list(
        KeyResult.objects.select_related("objective").filter(
            objective__period_end__gte=timezone.localdate() - timedelta(days=366)
        )
    )
    items = list(
        PortfolioItem.objects.filter(kind__in=ALIGNABLE_KINDS, is_gone=False).only(
            "pk", "title", "description", "labels", "product_id"
        )
    )
    decided = set(
        Alignment.objects.exclude(status=AlignmentStatus.SUGGESTED).values_list("item_id", "key_result_id")
    )
    wanted: dict[tuple[int, int], float] = {}
    if krs and items:
        found = match(
            [item_text(i) for i in items],
            [kr_text(k) for k in krs],
            SUGGEST_PER_ITEM,
            min_score=SUGGEST_MIN_SCORE,
        )
        for item, hits in zip(items, found, strict=True):
            for index, score in hits:
                kr = krs[index]
                product = kr.objective.product_id
                if product and item.product_id and product != item.product_id:
                    continue  # work on another product does not serve this product's goal
                pair = (item.pk, kr.pk)
                if pair not in decided:
                    wanted[pair] = round(float(score), 4)
    existing = {
        (a.item_id, a.key_result_id): a for a in Alignment.objects.filter(status=AlignmentStatus.SUGGESTED)
    }
    with transaction.atomic():
        stale = [a.pk for pair, a in existing.items() if pair not in wanted]
        Alignment.objects.filter(pk__in=stale).delete()
        new = [
            Alignment(item_id=i, key_result_id=k, score=s, status=AlignmentStatus.SUGGESTED)
            for (i, k), s in wanted.items()
            if (i, k) not in existing
        ]
        Alignment.objects.bulk_create(new, ignore_conflicts=True)
        for pair, a in existing.items():
            if pair in wanted and a.score != wanted[pair]:
                a.score = wanted[pair]
                a.save(update_fields=["score"])
    return {"suggested": len(wanted), "new": len(new), "dropped": len(stale)}


class AlignmentError(ValueError):
    pass


def decide(kr: KeyResult, item: PortfolioItem, action: str, user: Any) -> Alignment:
    """A PM's decision on an item ↔ key result pair: link (confirm) it, reject it, or unlink it."""
    if action not in {"confirm", "reject", "unlink"}:
        raise AlignmentError(f"unknown action {action!r}")
    if item.kind not in ALIGNABLE_KINDS:
        raise AlignmentError("Only initiatives and epics link to key results.")
    status = {
        "confirm": AlignmentStatus.CONFIRMED,
        "reject": AlignmentStatus.REJECTED,
        "unlink": AlignmentStatus.REJECTED,
    }[action]
    alignment, _ = Alignment.objects.update_or_create(
        item=item,
        key_result=kr,
        defaults={"status": status, "decided_by": user, "decided_at": timezone.now()},
    )
    bump()
    return alignment
