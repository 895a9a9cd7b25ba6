"""Registers the delivery recompute with insights.recompute: after portfolio writes, and nightly."""

from __future__ import annotations

import logging

from insights.recompute import RecomputeScope, on_change

log = logging.getLogger(__name__)


@on_change("delivery", {"portfolio"}, order=65)
def recompute_delivery(scope: RecomputeScope) -> None:
    """Portfolio changed: record target-date moves, first-seen starts, then slips and cycle-time jumps.
    Items are not tied to one product, so this always runs over every team."""
    from . import services

    log.info("delivery: %s", services.recompute_delivery())
