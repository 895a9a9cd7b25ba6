"""Keep the rollups in step: after each sync of metrics or tickets, and in full nightly."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from insights.recompute import RecomputeScope, on_change

from . import rollups

# A sync may rewrite recent history (late-arriving events); rebuild this far back after one.
RECENT_DAYS = 35


@on_change("rollups", {"metrics", "tickets"}, order=10)
def refresh_rollups(scope: RecomputeScope) -> None:
    since = (
        None
        if scope.full
        else (scope.since.date() if scope.since else timezone.localdate() - timedelta(days=RECENT_DAYS))
    )
    if scope.full or "metrics" in scope.families:
        rollups.refresh_metrics(scope.metric_ids or None, since=since)
    if scope.full or "tickets" in scope.families:
        rollups.refresh_tickets(scope.product_ids or None, since=since)
