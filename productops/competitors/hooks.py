"""Registers the competitor scan with insights.recompute: after feedback and research writes, nightly."""

from __future__ import annotations

import logging

from insights.recompute import RecomputeScope, on_change

log = logging.getLogger(__name__)


# After the feedback hook (order 50), so the rows' sentiment is scored before it is copied.
@on_change("competitors", {"nps", "tickets", "mentions", "research"}, order=55)
def recompute_competitor_mentions(scope: RecomputeScope) -> None:
    from .services import recompute_competitors

    if scope.full:
        log.info("competitors: %s", recompute_competitors())
        return
    # Research rows take their product from their study; a scoped rescan of those products covers them.
    log.info(
        "competitors: %s",
        recompute_competitors(product_ids=scope.product_ids or None, since=scope.since),
    )
