"""Drill-down tables: the rows behind every chart point and count, paginated, sortable, exportable.

Each table names its model, its columns and how the shared filters (and its own parameters) narrow it.
A chart or count links to `dashboards:rows` with the table's name and the same query string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import connection, models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date

from insights.feedback.models import EvidenceLink, LinkStatus, ThemeMember, ThemeStatus
from productops.competitors.models import CompetitorMention
from productops.portfolio.models import SIZE_POINTS, PortfolioItem
from productops.research.models import Highlight
from productops.signals.models import (
    ExperimentResult,
    FlagChange,
    Mention,
    MetricPoint,
    NpsResponse,
    SupportTicket,
)
from productops.ui.filters import Choice, Day, Filters, Int, Param, Segment, Sort

# Extra query parameters a drill-down link may carry, each validated by the shared filter parser.
DRILL_PARAMS: dict[str, Param] = {
    "metric": Int(),
    "dimension_key": Param(max_length=100, allow_empty=True),  # empty: the total, not a breakdown
    "dimension_value": Param(),
    "day": Day(),
    "tag": Param(max_length=100),
    "status": Param(max_length=32),
    "channel": Param(max_length=50, allow_empty=True),
    "open": Choice(values=("1",)),
    "open_at": Day(),
    "score": Choice(values=("promoters", "passives", "detractors", *(str(n) for n in range(11)))),
    "segment": Segment(),
    "theme": Int(),
    "source": Param(max_length=32),
    "competitor": Param(max_length=80),
    "study": Int(),
    "experiment": Int(),
    "variant": Param(),
    "metric_key": Param(),
    # Portfolio drill-downs (Opportunities and Delivery health): the feedback behind an item, the stories
    # under it, and the items behind a delivery count.
    "item": Int(),
    "under": Int(),
    "kind": Choice(values=("initiative", "epic", "story")),
    "estimated": Choice(values=("0", "1")),
    "done_week": Day(),
    "idle_before": Day(),
    "sort": Sort(),
    "q": Param(),
    "page": Int(low=1),
}


@dataclass(frozen=True)
class Column:
    path: str  # a values() path
    header: str


@dataclass(frozen=True)
class Table:
    name: str
    label: str
    model: type[models.Model]
    columns: tuple[Column, ...]
    default_sort: str
    narrow: Callable[[QuerySet[Any], Filters, dict[str, str]], QuerySet[Any]]
    time_field: str | None = None
    product_field: str | None = "product"
    team_field: str | None = None
    search_fields: tuple[str, ...] = ()

    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def sortable(self) -> set[str]:
        return {c.path for c in self.columns}


def _bounds(filters: Filters, params: dict[str, str]) -> tuple[datetime, datetime]:
    day = parse_date(params.get("day", "") or "") if params.get("day") else None
    if day:
        start = timezone.make_aware(datetime.combine(day, time.min), UTC)
        return start, start + timedelta(days=1)
    start = timezone.make_aware(datetime.combine(filters.start, time.min), UTC)
    end = timezone.make_aware(datetime.combine(filters.end, time.min), UTC) + timedelta(days=1)
    return start, end


def _metric_points(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    if params.get("metric", "").isdigit():
        qs = qs.filter(metric_id=int(params["metric"]))
    if "dimension_key" in params:
        qs = qs.filter(dimension_key=params["dimension_key"])
        if params.get("dimension_value"):
            qs = qs.filter(dimension_value=params["dimension_value"])
    return qs


def _tickets(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    if params.get("tag"):
        if connection.vendor == "postgresql":
            qs = qs.filter(tags__contains=[params["tag"]])
        else:  # SQLite has no JSON containment; match the quoted element in the stored array
            qs = qs.filter(tags__icontains=json.dumps(params["tag"]))
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    if "channel" in params:
        qs = qs.filter(channel=params["channel"])
    if params.get("open") == "1":
        qs = qs.filter(solved_at__isnull=True)
    if open_at := parse_date(params.get("open_at", "") or ""):  # the backlog at the start of that day
        moment = timezone.make_aware(datetime.combine(open_at, time.min), UTC)
        qs = qs.filter(opened_at__lt=moment).filter(
            models.Q(solved_at__isnull=True) | models.Q(solved_at__gte=moment)
        )
    return qs


def _segment(qs: QuerySet[Any], params: dict[str, str]) -> QuerySet[Any]:
    key, _, value = params.get("segment", "").partition(":")
    if key and value:  # validated by filters.Segment: one JSON key, no lookups
        qs = qs.filter(**{f"segment__{key}": value})
    return qs


def _nps(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    category = params.get("score")
    if category == "promoters":
        qs = qs.filter(score__gte=9)
    elif category == "passives":
        qs = qs.filter(score__in=[7, 8])
    elif category == "detractors":
        qs = qs.filter(score__lte=6)
    elif category:
        qs = qs.filter(score=int(category))
    return _segment(qs, params)


def _theme_members(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    if params.get("theme", "").isdigit() and not params.get(
        "item"
    ):  # any status: a retired theme keeps its members for history
        qs = qs.filter(theme_id=int(params["theme"]))
    else:
        qs = qs.filter(theme__status=ThemeStatus.ACTIVE)
    if params.get("item", "").isdigit():  # the feedback behind a portfolio item: its linked themes
        linked = EvidenceLink.objects.filter(item_id=int(params["item"])).exclude(status=LinkStatus.REJECTED)
        qs = qs.filter(theme_id__in=linked.values("theme_id"))
    if params.get("source"):
        qs = qs.filter(source=params["source"])
    return _segment(qs, params)


def _experiment_results(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    if params.get("experiment", "").isdigit():
        qs = qs.filter(experiment_id=int(params["experiment"]))
    if params.get("variant"):
        qs = qs.filter(variant__key=params["variant"])
    if params.get("metric_key"):
        qs = qs.filter(metric_key=params["metric_key"])
    return qs


def _items(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    qs = qs.filter(is_gone=False)
    if params.get("status"):
        qs = qs.filter(status_category=params["status"])
    if params.get("kind"):
        qs = qs.filter(kind=params["kind"])
    if params.get("under", "").isdigit():  # children and grandchildren
        under = int(params["under"])
        qs = qs.filter(models.Q(parent_id=under) | models.Q(parent__parent_id=under))
    if params.get("estimated") in {"0", "1"}:
        estimated = models.Q(estimate_points__isnull=False) | models.Q(estimate_size__in=list(SIZE_POINTS))
        qs = qs.filter(estimated) if params["estimated"] == "1" else qs.exclude(estimated)
    if done_week := parse_date(params.get("done_week", "") or ""):  # done in the 7 days from that day
        start = timezone.make_aware(datetime.combine(done_week, time.min), UTC)
        qs = qs.filter(status_category="done", done_at__gte=start, done_at__lt=start + timedelta(days=7))
    if idle_before := parse_date(params.get("idle_before", "") or ""):  # no activity since before that day
        moment = timezone.make_aware(datetime.combine(idle_before, time.min), UTC)
        qs = qs.filter(
            models.Q(updated_at_source__lt=moment)
            | models.Q(updated_at_source__isnull=True, started_at__lt=moment)
            | models.Q(updated_at_source__isnull=True, started_at__isnull=True, start_date__lt=idle_before)
        )
    return qs


def _competitor_mentions(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    if params.get("competitor"):
        qs = qs.filter(competitor__slug=params["competitor"])
    if params.get("source"):
        qs = qs.filter(source=params["source"])
    return qs


def _highlights(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    if params.get("study"):
        qs = qs.filter(study_id=params["study"])
    if params.get("tag"):
        qs = qs.filter(tags__contains=[params["tag"]])
    _key, _, value = params.get("segment", "").partition(":")
    if value:  # a highlight's segment is one text, e.g. segment=segment:SMB admin
        qs = qs.filter(segment=value)
    return qs


def _same(qs: QuerySet[Any], filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    return qs


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "metric-points",
            "Metric points",
            MetricPoint,
            (
                Column("metric__product__name", "Product"),
                Column("metric__name", "Metric"),
                Column("ts", "Time"),
                Column("dimension_key", "Dimension"),
                Column("dimension_value", "Value of dimension"),
                Column("value", "Value"),
            ),
            "-ts",
            _metric_points,
            time_field="ts",
            product_field="metric__product",
        ),
        Table(
            "tickets",
            "Support tickets",
            SupportTicket,
            (
                Column("product__name", "Product"),
                Column("external_id", "Ticket"),
                Column("subject", "Subject"),
                Column("status", "Status"),
                Column("priority", "Priority"),
                Column("channel", "Channel"),
                Column("tags", "Tags"),
                Column("opened_at", "Opened"),
                Column("csat_rating", "CSAT"),
            ),
            "-opened_at",
            _tickets,
            time_field="opened_at",
            search_fields=("subject", "body_text"),
        ),
        Table(
            "nps",
            "NPS responses",
            NpsResponse,
            (
                Column("product__name", "Product"),
                Column("score", "Score"),
                Column("comment", "Comment"),
                Column("segment", "Segment"),
                Column("submitted_at", "Submitted"),
            ),
            "-submitted_at",
            _nps,
            time_field="submitted_at",
            search_fields=("comment",),
        ),
        Table(
            "mentions",
            "Mentions",
            Mention,
            (
                Column("product__name", "Product"),
                Column("platform", "Where"),
                Column("title", "Title"),
                Column("url", "Link"),
                Column("score", "Score"),
                Column("posted_at", "Posted"),
            ),
            "-posted_at",
            _same,
            time_field="posted_at",
            search_fields=("title", "text"),
        ),
        Table(
            "flag-changes",
            "Feature flag changes",
            FlagChange,
            (
                Column("flag__product__name", "Product"),
                Column("flag__key", "Flag"),
                Column("description", "Change"),
                Column("enabled", "On"),
                Column("rollout_pct", "Rollout %"),
                Column("changed_at", "When"),
            ),
            "-changed_at",
            _same,
            time_field="changed_at",
            product_field="flag__product",
        ),
        Table(
            "theme-members",
            "Feedback in themes",
            ThemeMember,
            (
                Column("product__name", "Product"),
                Column("theme__label", "Theme"),
                Column("source", "Source"),
                Column("quote", "Feedback"),
                Column("sentiment", "Sentiment"),
                Column("ts", "When"),
            ),
            "-ts",
            _theme_members,
            time_field="ts",
            search_fields=("quote",),
        ),
        Table(
            "experiment-results",
            "Experiment results",
            ExperimentResult,
            (
                Column("experiment__product__name", "Product"),
                Column("experiment__name", "Experiment"),
                Column("variant__key", "Variant"),
                Column("metric_key", "Metric"),
                Column("date", "Day"),
                Column("exposures", "Exposures"),
                Column("conversions", "Conversions"),
                Column("value_sum", "Sum of values"),
            ),
            "date",
            _experiment_results,
            time_field="date",
            product_field="experiment__product",
        ),
        Table(
            "items",
            "Portfolio items",
            PortfolioItem,
            (
                Column("product__name", "Product"),
                Column("team__name", "Team"),
                Column("kind", "Kind"),
                Column("title", "Title"),
                Column("status_category", "Status"),
                Column("start_date", "Start"),
                Column("target_date", "Target"),
                Column("estimate_points", "Points"),
                Column("estimate_size", "Size"),
                Column("done_at", "Done"),
                Column("url", "Link"),
            ),
            "target_date",
            _items,
            team_field="team",
            search_fields=("title", "description"),
        ),
        Table(
            "competitor-mentions",
            "Competitor mentions",
            CompetitorMention,
            (
                Column("competitor__name", "Competitor"),
                Column("source", "Source"),
                Column("object_id", "Row"),
                Column("product__name", "Product"),
                Column("ts", "When"),
                Column("matched", "Written as"),
                Column("snippet", "Text"),
                Column("sentiment", "Sentiment"),
            ),
            "-ts",
            _competitor_mentions,
            time_field="ts",
            search_fields=("snippet",),
        ),
        Table(
            "highlights",
            "Research highlights",
            Highlight,
            (
                Column("study__title", "Study"),
                Column("study__product__name", "Product"),
                Column("study__team__name", "Team"),
                Column("quote", "Quote"),
                Column("segment", "Segment"),
                Column("tags", "Tags"),
                Column("created_at", "When"),
                Column("sentiment", "Sentiment"),
            ),
            "-created_at",
            _highlights,
            time_field="created_at",
            product_field="study__product",
            team_field="study__team",
            search_fields=("quote",),
        ),
    ]
}


def table_queryset(table: Table, filters: Filters, params: dict[str, str]) -> QuerySet[Any]:
    qs: QuerySet[Any] = table.model._default_manager.all()
    if table.time_field:
        start, end = _bounds(filters, params)
        qs = qs.filter(**{f"{table.time_field}__gte": start, f"{table.time_field}__lt": end})
    if filters.product and table.product_field:
        qs = qs.filter(**{table.product_field: filters.product})
    if filters.team and table.team_field:
        qs = qs.filter(**{table.team_field: filters.team})
    elif filters.team and table.product_field:  # rows with no team: the team's products
        qs = qs.filter(**{f"{table.product_field}__teams": filters.team})
    if params.get("q") and table.search_fields:
        search = models.Q()
        for name in table.search_fields:
            search |= models.Q(**{f"{name}__icontains": params["q"]})
        qs = qs.filter(search)
    qs = table.narrow(qs, filters, params)
    sort = params.get("sort", table.default_sort)
    if sort.lstrip("-") not in table.sortable():
        sort = table.default_sort
    return qs.order_by(sort, "pk").values_list(*[c.path for c in table.columns])


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell for a CSV export. Text that a spreadsheet would run as a formula is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_rows(table: Table, qs: QuerySet[Any]) -> Iterator[list[str]]:
    yield table.headers()
    for row in qs.iterator(chunk_size=2000):
        yield [csv_cell(v) for v in row]
