"""Post-sync and nightly recompute of anomalies, registered with insights.recompute."""

from __future__ import annotations

import logging

from insights.recompute import RecomputeScope, on_change

from .services import run_detection

log = logging.getLogger(__name__)

DERIVED_FAMILIES = {"tickets", "nps", "mentions", "kb"}


@on_change(
    "anomalies",
    {"metrics", "tickets", "nps", "mentions", "kb", "flags", "experiments", "portfolio", "monitoring"},
    order=90,
)
def recompute_anomalies(scope: RecomputeScope) -> None:
    """Full: every series. After a sync: the series the sync touched, writing only recent events.

    Detection always reads a series' whole history (the model's state depends on it, and that is what
    makes the post-sync and nightly answers agree); only the writes are limited to the recent window.
    """
    if scope.full:
        result = run_detection()
    else:
        metrics = "metrics" in scope.families
        derived = bool(DERIVED_FAMILIES & scope.families)
        changes_only = not (metrics or derived)
        result = run_detection(
            metric_ids=scope.metric_ids or None,
            product_ids=scope.product_ids or None,
            include_metrics=metrics or changes_only,
            include_derived=derived or changes_only,
            recent_only=True,
        )
    log.info(
        "anomalies recomputed: %s series, %s events, %s incidents (connection %s)",
        result.series,
        result.events,
        result.incidents_written,
        scope.connection_id,
    )
