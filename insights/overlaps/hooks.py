"""Registers the overlaps recompute with insights.recompute: after portfolio/experiment syncs, and nightly."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from insights.recompute import RecomputeScope, on_change


@on_change("overlaps", {"portfolio", "experiments"})
def recompute_overlaps(scope: RecomputeScope) -> None:
    """Full when asked (nightly) or on the first run; otherwise only pairs touching what changed."""
    from . import selectors, services
    from .models import OverlapRun

    last = OverlapRun.objects.filter(finished_at__isnull=False).first()
    if scope.full or last is None:
        services.compute_overlaps()
        return
    # Small slack: a sync that committed while the last run was reading is picked up again, not missed.
    since = scope.since or (last.started_at - timedelta(minutes=5))
    services.compute_overlaps(changed=selectors.changed_refs(min(since, timezone.now()), scope.connection_id))
