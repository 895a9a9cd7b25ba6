"""Writes to the portfolio that go beyond a plain upsert: links between items and items gone at the source.

Tracker connectors send items as ordinary records, plus `Link`s that reference other items by the
source's ids (a child's parent, "A blocks B") and, after a full listing, the ids that still exist.
The sync loop calls `apply_page_extras` inside the page's transaction, after the page's rows are
written, so a link resolves whenever both ends are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Q
from django.utils import timezone

from productops.portfolio.models import Dependency, DependencyKind, PortfolioItem

log = logging.getLogger(__name__)

DEPENDENCY_KINDS = {DependencyKind.BLOCKS.value, DependencyKind.RELATES.value}


def _resolve(source_key: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(by, ref) -> pk for refs by external id or by URL, within one connection's rows."""
    by_id = {ref for by, ref in refs if by == "external_id"}
    by_url = {ref for by, ref in refs if by == "url"}
    out: dict[tuple[str, str], int] = {}
    if by_id:
        rows = PortfolioItem.objects.filter(source_key=source_key, external_id__in=by_id)
        out.update({("external_id", e): pk for e, pk in rows.values_list("external_id", "pk")})
    if by_url:
        rows = PortfolioItem.objects.filter(source_key=source_key, url__in=by_url)
        out.update({("url", u): pk for u, pk in rows.values_list("url", "pk")})
    return out


def apply_links(source_key: str, links: Sequence[Any], *, complete_for: Iterable[str] = ()) -> dict[str, int]:
    """Set parents and write Dependency rows for `links` (connectors.base.Link) of one connection.

    `complete_for` names the external ids whose dependency links this batch lists in full (the items
    of the page, whose tool reports links from both sides): their other dependencies from this
    connection are deleted, so a link removed at the source disappears here too. A link whose other
    end is not stored under this connection (another tool, a project outside the scope, or not synced
    yet) is skipped with a log note. Returns counts for the run log.
    """
    counts = {"parents": 0, "dependencies": 0, "removed": 0, "unresolved": 0}
    refs: set[tuple[str, str]] = set()
    for link in links:
        refs.add(("external_id", link.from_id))
        if link.to_id is not None:
            refs.add((link.by, link.to_id))
    complete = set(complete_for)
    refs |= {("external_id", e) for e in complete}
    pks = _resolve(source_key, refs)

    # "children" (from_id = a parent, to_id None): the batch's parent links to it are all its children
    # (GitHub lists sub-issues from the parent's side); a child no longer listed loses that parent.
    listed: dict[int, set[int]] = {}
    for link in links:
        if link.kind == "parent" and link.to_id is not None:
            child_pk, parent_pk = pks.get(("external_id", link.from_id)), pks.get((link.by, link.to_id))
            if child_pk is not None and parent_pk is not None:
                listed.setdefault(parent_pk, set()).add(child_pk)
    for link in links:
        if link.kind == "children" and ("external_id", link.from_id) in pks:
            parent_pk = pks[("external_id", link.from_id)]
            dropped = PortfolioItem.objects.filter(source_key=source_key, parent_id=parent_pk).exclude(
                pk__in=listed.get(parent_pk, set())
            )
            counts["parents"] += dropped.update(parent_id=None)

    wanted: set[tuple[int, int, str]] = set()
    for link in links:
        if link.kind == "children":
            continue
        from_pk = pks.get(("external_id", link.from_id))
        to_pk = pks.get((link.by, link.to_id)) if link.to_id is not None else None
        if from_pk is None or (link.to_id is not None and to_pk is None):
            counts["unresolved"] += 1
            log.info(
                "%s: %s link %s -> %s skipped: the other item is not synced from this connection",
                source_key,
                link.kind,
                link.from_id,
                link.to_id,
            )
            continue
        if link.kind == "parent":
            if to_pk == from_pk:
                continue
            item = PortfolioItem.objects.filter(pk=from_pk)
            item = item.filter(parent_id__isnull=False) if to_pk is None else item.exclude(parent_id=to_pk)
            counts["parents"] += item.update(parent_id=to_pk)
        elif link.kind in DEPENDENCY_KINDS and to_pk is not None and to_pk != from_pk:
            wanted.add((from_pk, to_pk, link.kind))

    existing = set(
        Dependency.objects.filter(
            Q(from_item_id__in={f for f, _t, _k in wanted}) | Q(to_item_id__in={t for _f, t, _k in wanted}),
            source_key=source_key,
        ).values_list("from_item_id", "to_item_id", "kind")
    )
    new = [
        Dependency(from_item_id=f, to_item_id=t, kind=k, source_key=source_key)
        for f, t, k in wanted - existing
    ]
    Dependency.objects.bulk_create(new, ignore_conflicts=True)
    counts["dependencies"] = len(new)

    complete_pks = {pks[("external_id", e)] for e in complete if ("external_id", e) in pks}
    if complete_pks:
        stale = Dependency.objects.filter(
            Q(from_item_id__in=complete_pks) | Q(to_item_id__in=complete_pks), source_key=source_key
        )
        for dep_pk, f, t, k in stale.values_list("pk", "from_item_id", "to_item_id", "kind"):
            if (f, t, k) not in wanted:
                counts["removed"] += Dependency.objects.filter(pk=dep_pk).delete()[0]
    return counts


def mark_gone(
    source_key: str, present_external_ids: Iterable[str], *, model: Any = PortfolioItem
) -> tuple[int, int]:
    """After a full listing: rows of this connection not listed are gone; listed ones that were gone are back.

    Returns (marked_gone, restored). Gone items keep their history (dependencies, insights) and are
    hidden from current views by `is_gone`.
    """
    present = set(present_external_ids)
    rows = model._default_manager.filter(source_key=source_key)
    now = timezone.now()
    stored = dict(rows.values_list("external_id", "is_gone"))
    gone_ids = [e for e, is_gone in stored.items() if e not in present and not is_gone]
    back_ids = [e for e, is_gone in stored.items() if e in present and is_gone]
    marked = restored = 0
    for i in range(0, len(gone_ids), 1000):
        marked += rows.filter(external_id__in=gone_ids[i : i + 1000]).update(is_gone=True, gone_at=now)
    for i in range(0, len(back_ids), 1000):
        restored += rows.filter(external_id__in=back_ids[i : i + 1000]).update(is_gone=False, gone_at=None)
    if marked or restored:
        log.info("%s: %s item(s) gone at the source, %s back", source_key, marked, restored)
    return marked, restored


def apply_page_extras(source_key: str, page: Any) -> None:
    """What the sync loop does after writing a page's rows: resolve its links, then mark gone items.

    Must run inside the page's transaction. Pages without links or present_ids are left alone.
    """
    from django.apps import apps

    links = list(getattr(page, "links", None) or [])
    if links:
        # A tracker page lists every item's links (each item carries at least its parent link, maybe
        # None), so the page's items are complete: their dependencies not listed any more are removed.
        item_ids = [r.external_id for r in page.records if r.model == "portfolio.PortfolioItem"]
        apply_links(source_key, links, complete_for=item_ids)
    present = getattr(page, "present_ids", None)
    if present is not None:
        mark_gone(
            source_key,
            present,
            model=apps.get_model(getattr(page, "present_model", "portfolio.PortfolioItem")),
        )
