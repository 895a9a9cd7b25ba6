"""Writes for feedback: sentiment per row, themes and their members, evidence links, theme insights,
and a PM's rename / merge / split / link decisions."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Min, Model, Q
from django.utils import timezone
from scipy.optimize import linear_sum_assignment

from insights import sentiment
from insights.kinds import ThemePayload
from insights.models import InsightKind, Severity
from insights.overlaps import match
from insights.services import retire_missing, upsert_insight
from productops.portfolio.models import PortfolioItem
from productops.research.models import Highlight
from productops.signals.models import Mention, NpsResponse, SupportTicket

from . import selectors
from .models import EvidenceLink, LinkStatus, Theme, ThemeMember, ThemeStatus, ThemeWeekly
from .themes import PRAISE_MIN_SENTIMENT, assign_to_themes, find_themes, term_similarity

log = logging.getLogger(__name__)

MATCH_THRESHOLD = 0.25
# Cosine of the overlap engine (word + character n-grams); below this a theme and an item merely share
# a common word or two.
LINK_THRESHOLD = 0.14
LINKS_PER_THEME = 3


# --- Sentiment ---------------------------------------------------------------------------------


def _ticket_text(subject: str, body_text: str, body: str) -> str:
    return f"{subject}. {sentiment.clean_text(body_text or body)}".strip(" .")


def _write_column(model: type[Model], column: str, ids: np.ndarray, values: np.ndarray) -> None:
    """Set one float column for many rows. On PostgreSQL one UPDATE ... FROM unnest() per 50k rows;
    elsewhere Django's bulk_update (fine at the embedded stack's sizes)."""
    if len(ids) == 0:
        return
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for start in range(0, len(ids), 50_000):
                cur.execute(
                    f'UPDATE "{table}" AS t SET "{column}" = v.val FROM '
                    "(SELECT unnest(%s::bigint[]) AS id, unnest(%s::float8[]) AS val) AS v WHERE t.id = v.id",
                    [ids[start : start + 50_000].tolist(), values[start : start + 50_000].tolist()],
                )
        return
    objs = [model(pk=int(i), **{column: float(v)}) for i, v in zip(ids, values, strict=True)]
    model.objects.bulk_update(objs, [column], batch_size=500)  # type: ignore[attr-defined]


def score_sentiment(full: bool = False, product_ids: Iterable[int] | None = None) -> int:
    """Store a sentiment score on every NPS comment, ticket, mention and research highlight that lacks one
    (all, if full)."""
    done = 0
    scope = Q(product_id__in=list(product_ids)) if product_ids else Q()
    pending = Q() if full else Q(sentiment__isnull=True)
    nps = list(NpsResponse.objects.filter(scope & pending).exclude(comment="").values_list("id", "comment"))
    tickets = list(
        SupportTicket.objects.filter(scope & pending).values_list("id", "subject", "body_text", "body")
    )
    mentions = list(Mention.objects.filter(scope & pending).values_list("id", "title", "text"))
    # Research highlights take their product from their study.
    study_scope = Q(study__product_id__in=list(product_ids)) if product_ids else Q()
    highlights = list(Highlight.objects.filter(study_scope & pending).values_list("id", "quote"))
    for model, rows, texts in (
        (NpsResponse, nps, [r[1] for r in nps]),
        (SupportTicket, tickets, [_ticket_text(r[1], r[2], r[3]) for r in tickets]),
        (Mention, mentions, [f"{r[1]}. {r[2]}".strip(" .") for r in mentions]),
        (Highlight, highlights, [r[1] for r in highlights]),
    ):
        if not rows:
            continue
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        # Ticket text is cleaned above; the other sources are plain text already.
        values = sentiment.score(texts, clean=model is not SupportTicket)
        _write_column(model, "sentiment", ids, values)
        done += len(rows)
    return done


# --- Themes ------------------------------------------------------------------------------------


def _match(
    clusters_members: list[set[tuple[str, int]]],
    clusters_terms: list[dict[str, float]],
    old: list[Theme],
    old_members: dict[int, set[tuple[str, int]]],
) -> dict[int, Theme]:
    """Pair new clusters with existing themes (Hungarian assignment on a blend of member overlap and
    key-term cosine). Returns {cluster position: theme}; unmatched clusters become new themes."""
    if not old or not clusters_members:
        return {}
    sim = np.zeros((len(clusters_members), len(old)))
    for i, (members, terms) in enumerate(zip(clusters_members, clusters_terms, strict=True)):
        for j, theme in enumerate(old):
            prior = old_members.get(theme.pk, set())
            overlap = len(members & prior) / max(len(members), 1) if prior else 0.0
            sim[i, j] = 0.6 * overlap + 0.4 * term_similarity(terms, theme.terms or {})
    rows, cols = linear_sum_assignment(-sim)
    return {int(r): old[int(c)] for r, c in zip(rows, cols, strict=True) if sim[r, c] >= MATCH_THRESHOLD}


def _resolve_merged(theme: Theme, by_id: dict[int, Theme]) -> Theme:
    seen = set()
    while theme.status == ThemeStatus.MERGED and theme.merged_into_id and theme.pk not in seen:
        seen.add(theme.pk)
        theme = by_id.get(theme.merged_into_id) or Theme.objects.get(pk=theme.merged_into_id)
    return theme


# A scoped recompute adds a write's rows to the existing themes instead of re-clustering the product, when
# the product has themes and the rows since the write's since-date are at most this share of its themed
# feedback; otherwise (first themes, a large import, a full recompute) the product is re-clustered.
INCREMENTAL_MAX_SHARE = 0.25


def recompute_themes(
    product_ids: Iterable[int] | None = None, n_themes: int | None = None, since: datetime | None = None
) -> list[Theme]:
    """Re-cluster each product's feedback and fold the clusters into the stable Theme rows.

    With `since` (a scoped recompute after a write), a product whose rows from `since` on are few next to
    its themed feedback reads only those rows and adds them to its existing themes (`add_recent_members`);
    the others are re-clustered in full. The nightly recompute always re-clusters everything.
    """
    if since is not None and product_ids:
        rest = []
        touched_recent: list[Theme] = []
        for pid in sorted(set(product_ids)):
            added = add_recent_members(pid, since)
            if added is None:
                rest.append(pid)
            else:
                touched_recent += added
        if not rest:
            return touched_recent
        return [*touched_recent, *recompute_themes(rest, n_themes)]
    frame = selectors.feedback_frame(product_ids=product_ids)
    touched: list[Theme] = []
    keys = (
        [None] if frame.empty else sorted(frame["product_id"].unique().tolist(), key=lambda v: (v is None, v))
    )
    products = set(product_ids) if product_ids else None
    for product_id in keys:
        if product_id is None and frame.empty:
            continue
        part = (
            frame[frame["product_id"].isna()]
            if product_id is None
            else frame[frame["product_id"] == product_id]
        )
        touched += _recompute_product(None if product_id is None else int(product_id), part, n_themes)
    # Products with no feedback left: retire their themes.
    stale = Theme.objects.filter(status=ThemeStatus.ACTIVE).exclude(pk__in=[t.pk for t in touched])
    if products:
        stale = stale.filter(product_id__in=products)
    stale.exclude(split_from__isnull=False).update(status=ThemeStatus.RETIRED, size=0)
    return touched


def add_recent_members(product_id: int, since: datetime) -> list[Theme] | None:
    """Add the product's feedback from `since` on to its existing themes; None when it needs a full
    re-clustering instead (no themes yet, or too many new rows; see INCREMENTAL_MAX_SHARE).

    Reads only the rows from `since` on and the themes' terms, never the product's whole feedback. Rows
    re-sent by the write lose their old (unpinned) membership first, so a re-sync never duplicates.
    """
    themes = list(
        Theme.objects.filter(product_id=product_id, status=ThemeStatus.ACTIVE, split_from__isnull=True)
        .exclude(terms={})
        .order_by("pk")
    )
    if not themes:
        return None
    themed = ThemeMember.objects.filter(product_id=product_id).count()
    frame = selectors.feedback_frame(product_ids=[product_id], since=since)
    if len(frame) > INCREMENTAL_MAX_SHARE * themed:
        return None
    pinned = set(
        ThemeMember.objects.filter(product_id=product_id, pinned=True, ts__gte=since).values_list(
            "source", "object_id"
        )
    )
    if pinned and not frame.empty:
        keys = pd.Series(list(zip(frame["source"], frame["object_id"], strict=True)), index=frame.index)
        frame = frame[~keys.isin(pinned)]
    frame = frame.reset_index(drop=True)
    sentiments = pd.to_numeric(frame["sentiment"], errors="coerce").to_numpy(dtype=np.float64)
    best, weight = assign_to_themes(
        frame["text"].tolist(),
        [t.terms for t in themes],
        praise_themes=[(t.sentiment or 0.0) >= PRAISE_MIN_SENTIMENT for t in themes],
        sentiments=sentiments,
    )
    with transaction.atomic():
        stale = ThemeMember.objects.filter(product_id=product_id, pinned=False, ts__gte=since)
        stale_themes = set(stale.values_list("theme_id", flat=True))
        stale.delete()
        chosen = np.flatnonzero(best >= 0)
        theme_ids = np.array([themes[i].pk for i in best[chosen]], dtype=np.int64)
        _insert_members(product_id, frame.iloc[chosen], theme_ids, weight[chosen])
        touched = sorted(stale_themes | set(theme_ids.tolist()))
        refresh_theme_stats(touched)
    return list(Theme.objects.filter(pk__in=touched))


def _of_product(product_id: int | None) -> Q:
    return Q(product__isnull=True) if product_id is None else Q(product_id=product_id)


def _recompute_product(product_id: int | None, frame: pd.DataFrame, n_themes: int | None) -> list[Theme]:
    pinned = set(
        ThemeMember.objects.filter(_of_product(product_id), pinned=True).values_list("source", "object_id")
    )
    if pinned:
        keep = ~pd.Series(
            list(zip(frame["source"], frame["object_id"], strict=True)), index=frame.index
        ).isin(pinned)
        frame = frame[keep]
    frame = frame.reset_index(drop=True)
    clusters = (
        find_themes(
            frame["text"].tolist(),
            n_themes=n_themes,
            sentiments=pd.to_numeric(frame["sentiment"], errors="coerce").to_numpy(dtype=np.float64),
        )
        if len(frame)
        else []
    )

    old = list(Theme.objects.filter(_of_product(product_id), split_from__isnull=True))
    by_id = {t.pk: t for t in old}
    old_members: dict[int, set[tuple[str, int]]] = {}
    for theme_id, source, object_id in ThemeMember.objects.filter(
        _of_product(product_id), pinned=False
    ).values_list("theme_id", "source", "object_id"):
        old_members.setdefault(theme_id, set()).add((source, object_id))
    keys = list(zip(frame["source"].tolist(), frame["object_id"].tolist(), strict=True))
    cluster_members = [{keys[i] for i in c.members} for c in clusters]
    matched = _match(cluster_members, [c.terms for c in clusters], old, old_members)

    now = timezone.now()
    result: list[Theme] = []
    theme_of = np.full(len(frame), -1, dtype=np.int64)
    weight_of = np.zeros(len(frame))
    with transaction.atomic():
        targets: list[Theme] = []
        for pos, cluster in enumerate(clusters):
            theme = matched.get(pos)
            if theme is None:
                theme = Theme.objects.create(
                    product_id=product_id, label=cluster.label[:300], terms=cluster.terms
                )
            else:
                theme = _resolve_merged(theme, by_id)
            targets.append(theme)
        # Several clusters may land on one theme through merges: their members pool.
        for pos, (cluster, theme) in enumerate(zip(clusters, targets, strict=True)):
            if theme.status != ThemeStatus.MERGED and matched.get(pos) is theme:
                theme.label = cluster.label[:300]
                theme.terms = cluster.terms
            theme.status = ThemeStatus.ACTIVE
            theme_of[cluster.members] = theme.pk
            weight_of[cluster.members] = cluster.weights
        ThemeMember.objects.filter(_of_product(product_id), pinned=False).delete()
        chosen = np.flatnonzero(theme_of >= 0)
        _insert_members(product_id, frame.iloc[chosen], theme_of[chosen], weight_of[chosen])
        unique_targets = {t.pk: t for t in targets}
        for theme in unique_targets.values():
            theme.save(update_fields=["label", "terms", "status", "updated_at"])
        gone = [t.pk for t in old if t.pk not in unique_targets and t.status == ThemeStatus.ACTIVE]
        Theme.objects.filter(pk__in=gone).update(status=ThemeStatus.RETIRED, size=0, updated_at=now)
        split_children = Theme.objects.filter(
            _of_product(product_id), split_from__isnull=False, status=ThemeStatus.ACTIVE
        )
        result = [*unique_targets.values(), *split_children]
        refresh_theme_stats([t.pk for t in result])
        # Themes left without their unpinned members (retired here or before) lose their weeks too.
        refresh_theme_weekly([t.pk for t in old if t.pk not in unique_targets])
    return result


MEMBER_COLUMNS = [
    "theme_id",
    "source",
    "object_id",
    "product_id",
    "ts",
    "weight",
    "sentiment",
    "quote",
    "segment",
    "pinned",
]


def _insert_members(
    product_id: int | None, rows: pd.DataFrame, theme_ids: np.ndarray, weights: np.ndarray
) -> None:
    """Write theme members. On PostgreSQL through COPY: building 200k model instances and INSERT
    statements costs more than the clustering itself."""
    if rows.empty:
        return
    sentiments = [None if pd.isna(v) else float(v) for v in rows["sentiment"]]
    quotes = [str(t)[:1000] for t in rows["text"]]
    segments = [s if isinstance(s, dict) else {} for s in rows["segment"]]
    stamps = [ts.to_pydatetime() for ts in rows["ts"]]
    columns = zip(
        theme_ids.tolist(),
        rows["source"].tolist(),
        rows["object_id"].astype("int64").tolist(),
        stamps,
        weights.tolist(),
        sentiments,
        quotes,
        segments,
        strict=True,
    )
    if connection.vendor == "postgresql":
        cols = ", ".join(f'"{c}"' for c in MEMBER_COLUMNS)
        with (
            connection.cursor() as cur,
            cur.cursor.copy(f'COPY "{ThemeMember._meta.db_table}" ({cols}) FROM STDIN') as copy,
        ):
            for theme_id, source, object_id, ts, weight, sent, quote, segment in columns:
                copy.write_row(
                    (
                        theme_id,
                        source,
                        object_id,
                        product_id,
                        ts,
                        weight,
                        sent,
                        quote,
                        json.dumps(segment),
                        False,
                    )
                )
        return
    ThemeMember.objects.bulk_create(
        [
            ThemeMember(
                theme_id=theme_id,
                source=source,
                object_id=object_id,
                product_id=product_id,
                ts=ts,
                weight=weight,
                sentiment=sent,
                quote=quote,
                segment=segment,
            )
            for theme_id, source, object_id, ts, weight, sent, quote, segment in columns
        ],
        batch_size=2000,
    )


def refresh_theme_weekly(theme_ids: Iterable[int]) -> None:
    """Rebuild the ThemeWeekly rollup of these themes from their members (one grouped query)."""
    ids = sorted(set(theme_ids))
    if not ids:
        return
    rows = selectors.member_week_counts(ThemeMember.objects.filter(theme_id__in=ids), by_product=True)
    with transaction.atomic():
        ThemeWeekly.objects.filter(theme_id__in=ids).delete()
        ThemeWeekly.objects.bulk_create(
            [ThemeWeekly(theme_id=t, product_id=p, week=w, members=n) for t, p, w, n in rows], batch_size=5000
        )


def refresh_theme_stats(theme_ids: list[int]) -> None:
    """Size, sentiment, first/last seen and the 4-week trend of each theme, aggregated in the database
    (two queries, whatever the number of members), and the themes' weekly rollup. Every write that
    changes a theme's members ends here."""
    if not theme_ids:
        return
    refresh_theme_weekly(theme_ids)
    members = ThemeMember.objects.filter(theme_id__in=theme_ids)
    end = members.aggregate(end=Max("ts"))["end"]
    stats: dict[int, dict[str, Any]] = {}
    if end is not None:
        recent_from, before_from = end - timedelta(weeks=4), end - timedelta(weeks=12)
        stats = {
            row["theme_id"]: row
            for row in members.values("theme_id").annotate(
                size=Count("id"),
                mean=Avg("sentiment"),
                first=Min("ts"),
                last=Max("ts"),
                recent=Count("id", filter=Q(ts__gt=recent_from)),
                before=Count("id", filter=Q(ts__gt=before_from, ts__lte=recent_from)),
            )
        }
    themes = Theme.objects.in_bulk(theme_ids)
    for theme_id, theme in themes.items():
        row = stats.get(theme_id)
        if row is None:
            theme.size, theme.sentiment, theme.recent_volume, theme.previous_volume, theme.change = (
                0,
                None,
                0,
                0,
                0,
            )
            continue
        theme.size = int(row["size"])
        theme.sentiment = None if row["mean"] is None else round(float(row["mean"]), 4)
        theme.first_seen, theme.last_seen = row["first"], row["last"]
        theme.recent_volume = int(row["recent"])
        theme.previous_volume = row["before"] / 2  # eight weeks, scaled to four
        theme.change = round(
            (theme.recent_volume - theme.previous_volume) / max(theme.previous_volume, 1.0), 4
        )
    Theme.objects.bulk_update(
        themes.values(),
        ["size", "sentiment", "first_seen", "last_seen", "recent_volume", "previous_volume", "change"],
    )


# --- Theme insights ----------------------------------------------------------------------------


def theme_insights(product_ids: Iterable[int] | None = None) -> list[str]:
    """A "theme" insight for every theme whose weekly volume spikes in its latest weeks (robust z >= 6
    against its own history), with example quotes. The anomaly detector reads the same series through
    selectors.theme_volume_frame() for the full treatment."""
    frame = selectors.theme_volume_frame(product_ids=product_ids)
    keys: list[str] = []
    if frame.empty:
        return keys
    spikes = selectors.theme_spikes(frame)
    themes = Theme.objects.in_bulk([int(s["theme_id"]) for s in spikes])
    for spike in spikes:
        theme = themes.get(int(spike["theme_id"]))
        if theme is None or theme.status != ThemeStatus.ACTIVE:
            continue
        quotes = list(
            ThemeMember.objects.filter(
                theme=theme, ts__gte=spike["week"], ts__lt=spike["week"] + timedelta(days=7)
            )
            .order_by("-weight")
            .values_list("quote", flat=True)[:3]
        )
        key = f"theme:{theme.pk}:{spike['week']:%Y-%m-%d}"
        upsert_insight(
            InsightKind.THEME,
            key,
            title=f"Feedback about “{theme.name}” spiked to {int(spike['value'])} in a week",
            summary=f"Usually about {spike['baseline']:.0f} a week. "
            + (f"For example: “{quotes[0]}”" if quotes else ""),
            severity=Severity.HIGH if spike["z"] >= 8 else Severity.MEDIUM,
            score=float(spike["z"]),
            product_id=theme.product_id,
            starts_at=spike["week"],
            ends_at=spike["week"] + timedelta(days=7),
            payload=ThemePayload(
                theme_id=theme.pk,
                series_id=f"theme:{theme.pk}",
                value=float(spike["value"]),
                baseline=float(spike["baseline"]),
                quotes=quotes,
            ),
        )
        keys.append(key)
    scope: dict[str, Any] = {"product_id__in": list(product_ids)} if product_ids else {}
    retire_missing(InsightKind.THEME, keys, **scope)
    return keys


# --- Evidence links ----------------------------------------------------------------------------


def _similarity(theme_docs: list[str], item_docs: list[str]) -> np.ndarray:
    """Theme x item similarity from the overlap detector's engine (`insights.overlaps.match`): the
    same word and character n-gram TF-IDF and cosine that finds overlapping work, fitted on both sides."""
    sim = np.zeros((len(theme_docs), len(item_docs)))
    for row, neighbours in enumerate(match(theme_docs, item_docs, k=len(item_docs))):
        for col, score in neighbours:
            sim[row, col] = score
    return sim


def link_evidence(product_ids: Iterable[int] | None = None) -> int:
    """Suggest links from each active theme to its most similar portfolio items (same product, or items
    with no product). A PM's confirm/reject survives; rejected links are never re-suggested."""
    themes = list(
        Theme.objects.filter(status=ThemeStatus.ACTIVE).filter(
            Q(product_id__in=list(product_ids)) if product_ids else Q()
        )
    )
    items = list(
        PortfolioItem.objects.filter(is_gone=False).values("id", "title", "description", "product_id")
    )
    if not themes or not items:
        return 0
    # The five strongest quotes per theme: one small query each, instead of streaming every member.
    quotes = {
        t.pk: list(
            ThemeMember.objects.filter(theme=t).order_by("-weight").values_list("quote", flat=True)[:5]
        )
        for t in themes
    }
    theme_docs = [
        " ".join([t.name, t.label, *(list(t.terms)[:10] if t.terms else []), *quotes.get(t.pk, [])])
        for t in themes
    ]
    item_docs = [f"{i['title']} {i['title']} {i['description'][:2000]}" for i in items]
    sim = _similarity(theme_docs, item_docs)
    existing = {(link.theme_id, link.item_id): link for link in EvidenceLink.objects.filter(theme__in=themes)}
    written = 0
    keep: set[int] = set()
    for ti, theme in enumerate(themes):
        allowed = np.array(
            [theme.product_id is None or i["product_id"] in (None, theme.product_id) for i in items]
        )
        scores = np.where(allowed, sim[ti], 0.0)
        for j in np.argsort(-scores)[:LINKS_PER_THEME]:
            if scores[j] < LINK_THRESHOLD:
                break
            item_id = items[int(j)]["id"]
            link = existing.get((theme.pk, item_id))
            if link is None:
                link = EvidenceLink.objects.create(theme=theme, item_id=item_id, score=float(scores[j]))
            elif abs(link.score - float(scores[j])) > 1e-6:
                link.score = float(scores[j])
                link.save(update_fields=["score", "updated_at"])
            keep.add(link.pk)
            written += 1
    # Suggestions that no longer hold go away; a PM's decisions stay.
    EvidenceLink.objects.filter(theme__in=themes, status=LinkStatus.SUGGESTED).exclude(pk__in=keep).delete()
    return written


# --- A PM's edits ------------------------------------------------------------------------------


def rename_theme(theme: Theme, name: str) -> Theme:
    theme.custom_name = name.strip()[:300]
    theme.save(update_fields=["custom_name", "updated_at"])
    return theme


def merge_themes(target: Theme, others: Iterable[Theme]) -> Theme:
    """Fold `others` into `target`: their members move, their links move, and later recomputes that
    find one of them again redirect to the target."""
    others = [o for o in others if o.pk != target.pk]
    with transaction.atomic():
        for other in others:
            ThemeMember.objects.filter(theme=other).update(theme=target)
            for link in EvidenceLink.objects.filter(theme=other):
                if not EvidenceLink.objects.filter(theme=target, item_id=link.item_id).exists():
                    link.theme = target
                    link.save(update_fields=["theme", "updated_at"])
                else:
                    link.delete()
            other.status, other.merged_into = ThemeStatus.MERGED, target
            other.save(update_fields=["status", "merged_into", "updated_at"])
        refresh_theme_stats([target.pk, *[o.pk for o in others]])
    target.refresh_from_db()
    return target


def split_theme(theme: Theme, parts: int = 2) -> list[Theme]:
    """Re-cluster one theme's members into `parts` sub-themes. The members are pinned to the new
    themes, so the next recompute keeps the split instead of folding them back together."""
    rows = list(ThemeMember.objects.filter(theme=theme).values_list("id", "quote"))
    if len(rows) < parts * 3:
        raise ValueError(f"“{theme.name}” has {len(rows)} items; a split needs at least {parts * 3}.")
    clusters = find_themes([q for _, q in rows], n_themes=parts, min_size=1)
    if len(clusters) < 2:
        raise ValueError(
            f"“{theme.name}” does not separate into distinct sub-themes; try a merge or rename instead."
        )
    children: list[Theme] = []
    with transaction.atomic():
        assigned: set[int] = set()
        for cluster in clusters:
            child = Theme.objects.create(
                product_id=theme.product_id, label=cluster.label[:300], terms=cluster.terms, split_from=theme
            )
            ids = [rows[i][0] for i in cluster.members]
            assigned.update(ids)
            ThemeMember.objects.filter(pk__in=ids).update(theme=child, pinned=True)
            children.append(child)
        # Members no sub-theme claimed go to the largest one.
        ThemeMember.objects.filter(theme=theme).exclude(pk__in=assigned).update(
            theme=children[0], pinned=True
        )
        theme.status, theme.merged_into = ThemeStatus.RETIRED, None
        theme.save(update_fields=["status", "merged_into", "updated_at"])
        refresh_theme_stats([theme.pk, *[c.pk for c in children]])
    return children


def decide_link(link: EvidenceLink, confirm: bool, user: Any) -> EvidenceLink:
    link.status = LinkStatus.CONFIRMED if confirm else LinkStatus.REJECTED
    link.decided_by = user if getattr(user, "is_authenticated", False) else None
    link.decided_at = timezone.now()
    link.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    return link


# --- The recompute hook ------------------------------------------------------------------------


def recompute_feedback(
    product_ids: Iterable[int] | None = None, full: bool = False, since: datetime | None = None
) -> dict[str, int]:
    """Sentiment for new rows, then themes (from `since` on where that is enough), evidence links and
    theme insights."""
    ids = list(product_ids) if product_ids else None
    scored = score_sentiment(full=full, product_ids=ids)
    themes = recompute_themes(
        product_ids=ids, n_themes=getattr(settings, "FEEDBACK_THEME_COUNT", None), since=since
    )
    links = link_evidence(product_ids=ids)
    insights = theme_insights(product_ids=ids)
    return {"scored": scored, "themes": len(themes), "links": links, "insights": len(insights)}
