"""Registers the goals recompute with insights.recompute: after metric and portfolio writes, and nightly."""

from __future__ import annotations

import logging

from insights.recompute import RecomputeScope, on_change

log = logging.getLogger(__name__)


@on_change("goals", {"metrics", "portfolio"}, order=60)
def recompute_goals(scope: RecomputeScope) -> None:
    """Metrics changed: re-project the key results bound to them (or to the scope's products).
    Portfolio changed: refresh the matcher's alignment suggestions. Full: both, everything."""
    from . import services

    if scope.full or "metrics" in scope.families:
        if scope.full:
            counts = services.recompute_key_results()
        else:
            counts = services.recompute_key_results(
                metric_ids=scope.metric_ids or None, product_ids=scope.product_ids or None
            )
        log.info("goals: %s", counts)
    if scope.full or "portfolio" in scope.families:
        log.info("goals alignment: %s", services.suggest_alignments())
