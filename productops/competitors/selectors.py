"""Reads for the Competitors pages: mentions in the page's scope, weekly share of voice, sentiment,
co-occurring feedback themes and quotes. Queries are per competitor and per source, never per row."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db.models import Avg, Count, Q, QuerySet

from insights.feedback.models import Theme, ThemeMember
from productops.ui.filters import Filters

from .models import Competitor, CompetitorMention

NEGATIVE = -0.05


def mentions(filters: Filters, competitor: Competitor | None = None) -> QuerySet[CompetitorMention]:
    qs = CompetitorMention.objects.filter(filters.window("ts"))
    if competitor is not None:
        qs = qs.filter(competitor=competitor)
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(product__teams=filters.team)
    if source := filters.get("source"):
        qs = qs.filter(source=source)
    return qs


@dataclass
class CompetitorSummary:
    competitor: Competitor
    count: int = 0
    share: float = 0.0
    sentiment: float | None = None
    negative: int = 0
    themes: list[tuple[Theme, int]] = field(default_factory=list)


def summaries(filters: Filters) -> list[CompetitorSummary]:
    competitors = list(Competitor.objects.all())
    stats = {
        row["competitor_id"]: row
        for row in mentions(filters)
        .values("competitor_id")
        .annotate(n=Count("id"), s=Avg("sentiment"), neg=Count("id", filter=Q(sentiment__lt=NEGATIVE)))
    }
    total = sum(r["n"] for r in stats.values())
    out = []
    for c in competitors:
        row = stats.get(c.pk, {})
        n = int(row.get("n", 0))
        out.append(
            CompetitorSummary(
                competitor=c,
                count=n,
                share=n / total if total else 0.0,
                sentiment=row.get("s"),
                negative=int(row.get("neg", 0)),
            )
        )
    out.sort(key=lambda s: (-s.count, s.competitor.name))
    return out


def weekly(filters: Filters, competitor: Competitor | None = None) -> pd.DataFrame:
    """Mentions per ISO week (Monday) and competitor name: index weeks, columns competitors, zero-filled."""
    rows = list(mentions(filters, competitor).values_list("competitor__name", "ts"))
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows, columns=["competitor", "ts"])
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    frame["week"] = ts.dt.to_period("W-SUN").dt.start_time
    table = frame.groupby(["week", "competitor"]).size().unstack(fill_value=0)
    weeks = pd.date_range(table.index.min(), table.index.max(), freq="7D")
    return table.reindex(weeks, fill_value=0)


def co_themes(filters: Filters, competitor: Competitor, limit: int = 5) -> list[tuple[Theme, int]]:
    """The feedback themes the competitor's mentions fall into, most shared first."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for source, object_id in mentions(filters, competitor).values_list("source", "object_id"):
        by_source[source].append(object_id)
    if not by_source:
        return []
    q = Q()
    for source, ids in by_source.items():
        q |= Q(source=source, object_id__in=ids)
    counts = ThemeMember.objects.filter(q).values("theme_id").annotate(n=Count("id")).order_by("-n")[:limit]
    themes = Theme.objects.in_bulk([c["theme_id"] for c in counts])
    return [(themes[c["theme_id"]], int(c["n"])) for c in counts if c["theme_id"] in themes]


def quotes(filters: Filters, competitor: Competitor, limit: int = 8) -> list[dict[str, Any]]:
    rows = (
        mentions(filters, competitor)
        .order_by("-ts")
        .values("source", "object_id", "ts", "snippet", "sentiment", "matched", "product__name")[:limit]
    )
    return [dict(r) for r in rows]
