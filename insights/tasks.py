from __future__ import annotations

from celery import shared_task

from productops.core.versions import bump

from .recompute import RecomputeScope, run


@shared_task(name="insights.tasks.recompute_after_sync")
def recompute_after_sync(
    connection_id: int | None, families: list[str], metric_ids: list[int] | None = None
) -> list[str]:
    """Queued by the connector framework after a sync commits; recomputes what that sync touched."""
    ran = run(
        RecomputeScope(families=set(families), connection_id=connection_id, metric_ids=set(metric_ids or []))
    )
    bump()
    return ran


@shared_task(name="insights.tasks.recompute_all")
def recompute_all() -> list[str]:
    """Nightly: every hook, over everything."""
    ran = run(RecomputeScope(families=set(), full=True))
    bump()
    return ran
