"""Alerts run at the end of every detection cycle: a recompute hook, last in order, over every family."""

from __future__ import annotations

from django.db import transaction

from insights.recompute import FAMILIES, RecomputeScope, on_change


@on_change("alerts", set(FAMILIES), order=100)
def evaluate_after_recompute(scope: RecomputeScope) -> None:
    """Queue the evaluation once the detectors' writes are committed; the task decides what is owed."""
    from .tasks import evaluate_alerts

    transaction.on_commit(lambda: evaluate_alerts.delay())
