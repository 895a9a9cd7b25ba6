"""Writes for competitors: scanning feedback for mentions, and the spike insights.

`scan_mentions` reads the text of every source (tickets, NPS comments, social mentions, research
highlights and notes) in the scope, finds each competitor with one compiled matcher (detect.py), and
replaces the scope's stored mentions in one transaction, so a rescan after a lead edits an alias, or a
re-sync of the same rows, leaves exactly one row per (competitor, source row).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q, QuerySet

from insights import sentiment as sentiment_model
from insights.kinds import CompetitorSpikePayload
from insights.models import InsightKind, Severity
from insights.services import retire_missing, upsert_insight
from productops.research.models import Highlight, StudyNote
from productops.signals.models import Mention, NpsResponse, SupportTicket

from .detect import Matcher, Spec, snippet
from .models import Competitor, CompetitorMention, MentionSource

log = logging.getLogger(__name__)

CHUNK = 5000
# A spike: a week the anomaly engine flags as a rise, with at least SPIKE_MIN_COUNT mentions and at
# least twice the expected count ("tripled this week").
SPIKE_MIN_COUNT = 5
SPIKE_RECENT_WEEKS = 4


@dataclass(frozen=True)
class SourceSpec:
    source: str
    product_path: str  # the row's product, for the scope and the stored mention
    date_field: str


SOURCES = (
    SourceSpec(MentionSource.TICKET, "product_id", "opened_at"),
    SourceSpec(MentionSource.NPS, "product_id", "submitted_at"),
    SourceSpec(MentionSource.MENTION, "product_id", "posted_at"),
    SourceSpec(MentionSource.RESEARCH, "study__product_id", "created_at"),
    SourceSpec(MentionSource.RESEARCH_NOTE, "study__product_id", "created_at"),
)


def matcher() -> Matcher:
    return Matcher(Spec(c.pk, c.terms, [str(d) for d in (c.domains or [])]) for c in Competitor.objects.all())


def _join(title: str, text: str) -> str:
    """A title and a body as one text ("Title. Body"), keeping the body's own punctuation."""
    title, text = (title or "").strip(), (text or "").strip()
    if title and text:
        return f"{title}{'' if title.endswith(('.', '!', '?')) else '.'} {text}"
    return title or text


def _rows(spec: SourceSpec, scope: Q) -> Iterator[tuple[int, int | None, datetime, str, float | None]]:
    """(id, product id, date, text, sentiment) of every row of one source in the scope."""
    qs: QuerySet[Any]
    if spec.source == MentionSource.TICKET:
        qs = SupportTicket.objects.filter(scope).values_list(
            "id", "product_id", "opened_at", "subject", "body_text", "body", "sentiment"
        )
        for pk, product, at, subject, body_text, body, sent in qs.iterator(chunk_size=CHUNK):
            text = body_text or (sentiment_model.clean_text(body) if body else "")
            yield pk, product, at, _join(subject, text), sent
        return
    if spec.source == MentionSource.NPS:
        qs = NpsResponse.objects.filter(scope).exclude(comment="")
        yield from qs.values_list("id", "product_id", "submitted_at", "comment", "sentiment").iterator(
            chunk_size=CHUNK
        )
        return
    if spec.source == MentionSource.MENTION:
        for pk, product, at, title, text, sent in (
            Mention.objects.filter(scope)
            .values_list("id", "product_id", "posted_at", "title", "text", "sentiment")
            .iterator(chunk_size=CHUNK)
        ):
            yield pk, product, at, _join(title, text), sent
        return
    if spec.source == MentionSource.RESEARCH:
        yield from (
            Highlight.objects.filter(scope)
            .values_list("id", "study__product_id", "created_at", "quote", "sentiment")
            .iterator(chunk_size=CHUNK)
        )
        return
    for pk, product, at, title, text in (
        StudyNote.objects.filter(scope)
        .values_list("id", "study__product_id", "created_at", "title", "text")
        .iterator(chunk_size=CHUNK)
    ):
        yield pk, product, at, _join(title, text), None


def find_in_rows(
    found: Matcher, source: str, rows: Iterable[tuple[int, int | None, datetime, str, float | None]]
) -> list[CompetitorMention]:
    out = []
    for pk, product, at, text, sent in rows:
        for hit in found.find(text):
            out.append(
                CompetitorMention(
                    competitor_id=hit.competitor_id,
                    source=source,
                    object_id=pk,
                    product_id=product,
                    ts=at,
                    matched=hit.matched[:200],
                    snippet=snippet(text, hit.start, hit.end),
                    sentiment=sent,
                )
            )
    return out


def scan_mentions(product_ids: Iterable[int] | None = None, since: datetime | None = None) -> int:
    """Find competitor mentions in every source's rows of the scope; returns how many are stored.

    The scope is the products (None: all) and rows dated `since` or later (None: all time). Mentions
    stored for the scope are replaced, so a row edited to drop a competitor's name loses its mention.
    """
    found = matcher()
    ids = sorted(product_ids) if product_ids else None
    total = 0
    with transaction.atomic():
        for spec in SOURCES:
            scope = Q(**{f"{spec.product_path}__in": ids}) if ids else Q()
            if since is not None:
                scope &= Q(**{f"{spec.date_field}__gte": since})
            stored = CompetitorMention.objects.filter(source=spec.source)
            if ids:
                stored = stored.filter(product_id__in=ids)
            if since is not None:
                stored = stored.filter(ts__gte=since)
            stored.delete()
            if not found:
                continue
            mentions = find_in_rows(found, spec.source, _rows(spec, scope))
            CompetitorMention.objects.bulk_create(mentions, batch_size=2000, ignore_conflicts=True)
            total += len(mentions)
    return total


# --- Spikes -------------------------------------------------------------------------------------


def weekly_counts(product_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Long frame (competitor_id, week, value): mentions per competitor and ISO week (Monday),
    zero-filled from the competitor's first week to the newest week of any mention."""
    qs = CompetitorMention.objects.all()
    if product_ids:
        qs = qs.filter(product_id__in=list(product_ids))
    rows = list(qs.values_list("competitor_id", "ts"))
    if not rows:
        return pd.DataFrame(columns=["competitor_id", "week", "value"])
    frame = pd.DataFrame(rows, columns=["competitor_id", "ts"])
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    frame["week"] = ts.dt.to_period("W-SUN").dt.start_time
    counts = frame.groupby(["competitor_id", "week"]).size().rename("value").reset_index()
    end = counts["week"].max()
    parts = []
    for cid, part in counts.groupby("competitor_id"):
        weeks = pd.date_range(part["week"].min(), end, freq="7D")
        filled = part.set_index("week")["value"].reindex(weeks, fill_value=0)
        parts.append(pd.DataFrame({"competitor_id": cid, "week": weeks, "value": filled.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def find_spikes(frame: pd.DataFrame, recent_weeks: int = SPIKE_RECENT_WEEKS) -> list[dict[str, Any]]:
    """Per competitor, its strongest recent week that the anomaly engine flags as a rise.

    Each competitor's weekly mention count is a series scored by `insights.anomalies.detect` (causal,
    the same machinery as every metric; a young series gets a wider band). A flagged week also needs
    SPIKE_MIN_COUNT mentions and twice the expected level, so "tripled from 1 to 3" is not news.
    """
    from insights.anomalies.detect import detect

    out: list[dict[str, Any]] = []
    if frame.empty:
        return out
    end = frame["week"].max()
    cutoff = end - pd.Timedelta(weeks=recent_weeks)
    for cid, part in frame.groupby("competitor_id"):
        late = (part["week"] > cutoff).to_numpy()
        if (~late).sum() < 4:
            continue  # too little history to call anything unusual
        series = pd.Series(part["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(part["week"]))
        verdict = detect(series, direction="up")
        values = series.to_numpy()
        expected = verdict["expected"].to_numpy(dtype=float)
        upper = verdict["upper"].to_numpy(dtype=float)
        best = None
        for i in np.flatnonzero(late & verdict["is_anomaly"].to_numpy(dtype=bool)):
            base = float(expected[i]) if np.isfinite(expected[i]) else 0.0
            if values[i] < SPIKE_MIN_COUNT or values[i] < 2 * max(base, 1.0):
                continue
            # How many band half-widths above the expected level (for the payload and the severity).
            width = float(upper[i] - base) if np.isfinite(upper[i]) and upper[i] > base else 1.0
            z = (values[i] - base) / width * 3.0
            score = float(verdict["score"].iloc[i])
            if best is None or score > best["score"] or (score == best["score"] and z > best["z"]):
                best = {
                    "competitor_id": int(cid),
                    "week": part["week"].iloc[i].to_pydatetime(),
                    "value": float(values[i]),
                    "baseline": max(base, 0.0),
                    "z": float(z),
                    "score": score,
                }
        if best:
            out.append(best)
    return out


def spike_insights() -> list[str]:
    """A `competitor_spike` insight for each competitor whose weekly mentions jumped recently."""
    spikes = find_spikes(weekly_counts())
    competitors = Competitor.objects.in_bulk([s["competitor_id"] for s in spikes])
    keys = []
    for spike in spikes:
        competitor = competitors.get(spike["competitor_id"])
        if competitor is None:
            continue
        week = spike["week"].replace(tzinfo=UTC)
        mentions = CompetitorMention.objects.filter(
            competitor=competitor, ts__gte=week, ts__lt=week + timedelta(days=7)
        )
        quotes = list(mentions.order_by("sentiment", "-ts").values_list("snippet", flat=True)[:3])
        product_ids = set(mentions.values_list("product_id", flat=True).distinct())
        ratio = spike["value"] / max(spike["baseline"], 1.0)
        key = f"competitor:{competitor.pk}:{week:%Y-%m-%d}"
        upsert_insight(
            InsightKind.COMPETITOR_SPIKE,
            key,
            product_ids=[p for p in product_ids if p],
            title=f"Mentions of {competitor.name} rose to {int(spike['value'])} in the week of {week:%d %b}"
            + (f" ({ratio:.1f}× the usual)" if ratio >= 2 else ""),
            summary=f"Usually about {spike['baseline']:.0f} a week. "
            + (f"For example: “{quotes[0]}”" if quotes else ""),
            severity=Severity.HIGH if spike["z"] >= 8 else Severity.MEDIUM,
            score=spike["score"],
            starts_at=week,
            ends_at=week + timedelta(days=7),
            payload=CompetitorSpikePayload(
                competitor_id=competitor.pk,
                competitor=competitor.name,
                slug=competitor.slug,
                week=f"{week:%Y-%m-%d}",
                value=spike["value"],
                baseline=spike["baseline"],
                z=round(spike["z"], 2),
                quotes=quotes,
            ),
        )
        keys.append(key)
    retire_missing(InsightKind.COMPETITOR_SPIKE, keys)
    return keys


def recompute_competitors(
    product_ids: Iterable[int] | None = None, since: datetime | None = None
) -> dict[str, int]:
    stored = scan_mentions(product_ids=product_ids, since=since)
    spikes = spike_insights()
    return {"mentions": stored, "spikes": len(spikes)}
