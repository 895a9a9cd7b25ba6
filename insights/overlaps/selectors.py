"""Reads for overlaps: the ORM rows turned into plain OverlapItems, and the page's querysets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from productops.portfolio.models import Dependency, PortfolioItem, StatusCategory
from productops.signals.models import Experiment, ExperimentStatus

from .detect import OverlapItem
from .models import Decision, OverlapPair

ITEM = "item"
EXPERIMENT = "experiment"


def item_ref(pk: int) -> str:
    return f"{ITEM}:{pk}"


def experiment_ref(pk: int) -> str:
    return f"{EXPERIMENT}:{pk}"


def parse_ref(ref: str) -> tuple[str, int]:
    kind, _, pk = ref.partition(":")
    return kind, int(pk)


def _day(value: datetime | None) -> date | None:
    return timezone.localdate(value) if value else None


def content_text(item: OverlapItem) -> str:
    """What a PM would call "the item": used to tell whether it changed materially since a dismissal."""
    return "\n".join(
        [
            item.title,
            item.description,
            " ".join(item.labels),
            " ".join(item.components),
            item.surface,
            item.metric,
        ]
    )


def overlap_items() -> list[OverlapItem]:
    """Every current portfolio item and experiment as an OverlapItem (a few queries, no per-row queries)."""
    deps: dict[str, set[str]] = defaultdict(set)
    for from_id, to_id in Dependency.objects.values_list("from_item_id", "to_item_id"):
        deps[item_ref(from_id)].add(item_ref(to_id))
        deps[item_ref(to_id)].add(item_ref(from_id))
    out = []
    rows = PortfolioItem.objects.filter(is_gone=False).values(
        "pk",
        "kind",
        "external_id",
        "title",
        "description",
        "team_id",
        "product_id",
        "labels",
        "components",
        "start_date",
        "target_date",
        "status_category",
    )
    for row in rows.iterator(chunk_size=2000):
        ref = item_ref(row["pk"])
        out.append(
            OverlapItem(
                ref=ref,
                title=row["title"],
                level=row["kind"],
                description=row["description"] or "",
                key=row["external_id"],
                team=str(row["team_id"]) if row["team_id"] else None,
                product=str(row["product_id"]) if row["product_id"] else None,
                labels=tuple(str(x) for x in row["labels"] or ()),
                components=tuple(str(x) for x in row["components"] or ()),
                start=row["start_date"],
                end=row["target_date"],
                status=row["status_category"],
                depends_on=frozenset(deps.get(ref, ())),
            )
        )
    today = timezone.localdate()
    for exp in Experiment.objects.values(
        "pk",
        "key",
        "name",
        "hypothesis",
        "team_id",
        "product_id",
        "status",
        "started_at",
        "ended_at",
        "surface",
        "primary_metric",
    ):
        if exp["status"] == ExperimentStatus.DRAFT and not exp["started_at"]:
            continue
        start = _day(exp["started_at"])
        end = _day(exp["ended_at"]) or (today if exp["status"] == ExperimentStatus.RUNNING else start)
        out.append(
            OverlapItem(
                ref=experiment_ref(exp["pk"]),
                kind=EXPERIMENT,
                title=exp["name"],
                description=exp["hypothesis"] or "",
                key=exp["key"],
                team=str(exp["team_id"]) if exp["team_id"] else None,
                product=str(exp["product_id"]) if exp["product_id"] else None,
                surface=exp["surface"] or "",
                metric=exp["primary_metric"] or "",
                start=start,
                end=end,
                # A collision poisons both results even after they stop, so experiments are never "done" here.
                status=StatusCategory.IN_PROGRESS,
            )
        )
    return out


def changed_refs(since: datetime, connection_id: int | None = None) -> set[str]:
    """Items and experiments whose content changed at or after `since` (optionally from one connection)."""
    items = PortfolioItem.objects.filter(last_seen_at__gte=since)
    experiments = Experiment.objects.filter(last_seen_at__gte=since)
    if connection_id is not None:
        items = items.filter(connection_id=connection_id)
        experiments = experiments.filter(connection_id=connection_id)
    return {item_ref(pk) for pk in items.values_list("pk", flat=True)} | {
        experiment_ref(pk) for pk in experiments.values_list("pk", flat=True)
    }


def pairs(
    *,
    product: int | None = None,
    team: int | None = None,
    team_a: int | None = None,
    team_b: int | None = None,
    kind: str | None = None,
    decision: str | None = Decision.OPEN,
    start: date | None = None,
    end: date | None = None,
    status: str | None = None,
    pair: int | None = None,
) -> QuerySet[OverlapPair]:
    """Active pairs for the overlap list, filtered as the page's query string says."""
    qs = OverlapPair.objects.filter(active=True).select_related(
        "item_a", "item_b", "experiment_a", "experiment_b", "team_a", "team_b", "product"
    )
    if pair:
        qs = qs.filter(pk=pair)
    if decision:
        qs = qs.filter(decision=decision)
    if product:
        qs = qs.filter(Q(product_id=product) | Q(item_a__product_id=product) | Q(item_b__product_id=product))
    if team:
        qs = qs.filter(Q(team_a_id=team) | Q(team_b_id=team))
    if team_a and team_b:
        qs = qs.filter(Q(team_a_id=team_a, team_b_id=team_b) | Q(team_a_id=team_b, team_b_id=team_a))
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(Q(item_a__status_category=status) | Q(item_b__status_category=status))
    if start:
        qs = qs.filter(Q(overlap_end__isnull=True) | Q(overlap_end__gte=start))
    if end:
        qs = qs.filter(Q(overlap_start__isnull=True) | Q(overlap_start__lte=end))
    return qs.order_by("-score", "pk")


def team_matrix(team_pairs: Iterable[tuple[int | None, int | None]]) -> dict[tuple[int, int], int]:
    """Overlap counts per unordered team pair (a, b) with a <= b, from (team_a_id, team_b_id) rows."""
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for a, b in team_pairs:
        if a is None or b is None:
            continue
        counts[(min(a, b), max(a, b))] += 1
    return dict(counts)


def timeline_items(
    *,
    product: int | None = None,
    team: int | None = None,
    status: str | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int = 300,
) -> QuerySet[PortfolioItem]:
    qs = PortfolioItem.objects.filter(is_gone=False).exclude(
        start_date__isnull=True, target_date__isnull=True
    )
    if product:
        qs = qs.filter(product_id=product)
    if team:
        qs = qs.filter(team_id=team)
    if status:
        qs = qs.filter(status_category=status)
    if start:
        qs = qs.filter(Q(target_date__isnull=True) | Q(target_date__gte=start))
    if end:
        qs = qs.filter(Q(start_date__isnull=True) | Q(start_date__lte=end))
    return qs.select_related("team").order_by("team__name", "start_date", "pk")[:limit]
