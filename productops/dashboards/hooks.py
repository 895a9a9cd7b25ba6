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


@on_change("page_rollups", {"tickets", "nps", "mentions", "kb"}, order=60)
def refresh_page_rollups(scope: RecomputeScope) -> None:
    """After feedback scored the new rows' sentiment (order 50): the Support page's and the Feedback
    page's rollups, and the daily NPS, mention and KB rollups the anomaly detector's series read."""
    since = (
        None
        if scope.full
        else (scope.since.date() if scope.since else timezone.localdate() - timedelta(days=RECENT_DAYS))
    )
    products = scope.product_ids or None
    if scope.full or "tickets" in scope.families:
        rollups.refresh_support(products, since=since)
    sources = {"tickets": "ticket", "nps": "nps", "mentions": "mention"}
    chosen = {s for f, s in sources.items() if scope.full or f in scope.families}
    if chosen:
        rollups.refresh_sentiment(chosen, products, since=since)
    daily = {f for f in ("nps", "mentions", "kb") if scope.full or f in scope.families}
    if daily:
        rollups.refresh_feedback_daily(daily, products, since=since)
