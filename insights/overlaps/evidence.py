"""Customer evidence for a portfolio item: the tickets, NPS comments, mentions and research highlights
whose text matches it.

A working, self-contained version: TF-IDF similarity (`similarity.match`) between the item's text and
recent feedback of the item's product. The feedback issue may later supply richer linking behind the
same `customer_evidence(item)` call, which the item page uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.db.models import Max
from django.urls import reverse

from productops.portfolio.models import PortfolioItem
from productops.research.models import Highlight
from productops.signals.models import Mention, NpsResponse, SupportTicket

from .similarity import match

# A feedback text at least this similar to the item counts as evidence for it.
EVIDENCE_MIN_SCORE = 0.18
WINDOW = timedelta(days=180)
# Newest rows per source to compare; keeps the page fast on large ticket tables.
MAX_ROWS_PER_SOURCE = 5000
WEEKS = 12


@dataclass
class EvidenceRow:
    source: str  # tickets, nps, mentions, research (a research highlight)
    pk: int
    text: str
    at: datetime
    score: float
    url: str = ""


@dataclass
class Evidence:
    rows: list[EvidenceRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    weekly: pd.DataFrame = field(default_factory=pd.DataFrame)  # index: week start; columns: sources
    window_end: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def trend(self) -> str:
        """ "rising", "falling" or "flat": the last four weeks against the four before."""
        if self.weekly.empty:
            return "flat"
        per_week = self.weekly.sum(axis=1)
        recent, before = per_week.iloc[-4:].sum(), per_week.iloc[-8:-4].sum()
        if recent > before * 1.25 and recent - before >= 2:
            return "rising"
        if recent < before * 0.8 and before - recent >= 2:
            return "falling"
        return "flat"


def item_query(item: PortfolioItem) -> str:
    """Title twice (it says what the work is), then description, labels and components."""
    parts = [
        item.title,
        item.title,
        item.description,
        " ".join(map(str, item.labels or [])),
        " ".join(map(str, item.components or [])),
    ]
    return " ".join(p for p in parts if p)


def _candidates(item: PortfolioItem, end: datetime) -> list[tuple[str, int, str, datetime, str]]:
    start = end - WINDOW
    scope: dict[str, Any] = {"product_id": item.product_id} if item.product_id else {}
    rows: list[tuple[str, int, str, datetime, str]] = []
    tickets = (
        SupportTicket.objects.filter(opened_at__gte=start, opened_at__lte=end, **scope)
        .order_by("-opened_at")
        .values_list("pk", "subject", "body_text", "opened_at")[:MAX_ROWS_PER_SOURCE]
    )
    rows += [("tickets", pk, f"{subject}. {body}".strip(". "), at, "") for pk, subject, body, at in tickets]
    nps = (
        NpsResponse.objects.filter(submitted_at__gte=start, submitted_at__lte=end, **scope)
        .exclude(comment="")
        .order_by("-submitted_at")
        .values_list("pk", "comment", "submitted_at")[:MAX_ROWS_PER_SOURCE]
    )
    rows += [("nps", pk, comment, at, "") for pk, comment, at in nps]
    mentions = (
        Mention.objects.filter(posted_at__gte=start, posted_at__lte=end, **scope)
        .order_by("-posted_at")
        .values_list("pk", "title", "text", "posted_at", "url")[:MAX_ROWS_PER_SOURCE]
    )
    rows += [
        ("mentions", pk, f"{title}. {text}".strip(". "), at, url) for pk, title, text, at, url in mentions
    ]
    study_scope: dict[str, Any] = {"study__product_id": item.product_id} if item.product_id else {}
    highlights = (
        Highlight.objects.filter(created_at__gte=start, created_at__lte=end, **study_scope)
        .order_by("-created_at")
        .values_list("pk", "quote", "created_at", "study_id")[:MAX_ROWS_PER_SOURCE]
    )
    rows += [
        ("research", pk, quote, at, reverse("research:study", args=[study_id]))
        for pk, quote, at, study_id in highlights
    ]
    return rows


def _latest_signal(item: PortfolioItem) -> datetime | None:
    """Evidence windows end at the newest feedback, not at "now": imported or demo data may be historical."""
    scope: dict[str, Any] = {"product_id": item.product_id} if item.product_id else {}
    dates = [
        SupportTicket.objects.filter(**scope).aggregate(m=Max("opened_at"))["m"],
        NpsResponse.objects.filter(**scope).aggregate(m=Max("submitted_at"))["m"],
        Mention.objects.filter(**scope).aggregate(m=Max("posted_at"))["m"],
        Highlight.objects.filter(
            **({"study__product_id": item.product_id} if item.product_id else {})
        ).aggregate(m=Max("created_at"))["m"],
    ]
    known = [d for d in dates if d is not None]
    return max(known) if known else None


def customer_evidence(item: PortfolioItem, *, min_score: float = EVIDENCE_MIN_SCORE) -> Evidence:
    """Tickets, NPS comments and mentions matching `item`, with counts per source and a weekly trend."""
    end = _latest_signal(item)
    if end is None:
        return Evidence()
    candidates = _candidates(item, end)
    if not candidates:
        return Evidence(window_end=end)
    matches = match([item_query(item)], [c[2] for c in candidates], k=len(candidates), min_score=min_score)[0]
    rows = [
        EvidenceRow(
            source=candidates[j][0],
            pk=candidates[j][1],
            text=candidates[j][2][:300],
            at=candidates[j][3],
            score=score,
            url=candidates[j][4],
        )
        for j, score in matches
    ]
    counts = {"tickets": 0, "nps": 0, "mentions": 0, "research": 0}
    for row in rows:
        counts[row.source] += 1
    weeks = pd.date_range(end=pd.Timestamp(end).tz_convert(None).normalize(), periods=WEEKS, freq="W-MON")
    if rows:
        frame = pd.DataFrame(
            {"source": [r.source for r in rows], "at": [pd.Timestamp(r.at).tz_convert(None) for r in rows]}
        )
        frame["week"] = frame["at"].dt.to_period("W-SUN").dt.start_time
        weekly = frame.groupby(["week", "source"]).size().unstack(fill_value=0)
        weekly = weekly.reindex(index=weeks, columns=list(counts), fill_value=0)
    else:
        weekly = pd.DataFrame(0, index=weeks, columns=list(counts))
    return Evidence(rows=rows, counts=counts, weekly=weekly, window_end=end)
