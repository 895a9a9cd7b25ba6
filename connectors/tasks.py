"""Celery tasks: thin wrappers that take ids and call connectors.sync."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import sync


@shared_task(bind=True, name="connectors.tasks.sync_connection", max_retries=None, acks_late=True)
def sync_connection(self: Any, connection_id: int, run_id: int | None = None) -> str:
    """Sync one connection. Beat calls it with the id only; "Sync now" also passes the queued run's id.

    A transient error re-queues this task after an exponential, fully jittered delay that honours the
    source's Retry-After; connectors.sync caps the attempts and then fails the run.
    """
    trigger = "schedule" if run_id is None else "manual"
    result = sync.run_sync(connection_id, run_id=run_id, trigger=trigger)
    if result.outcome == "retry" and result.run is not None:
        raise self.retry(args=[connection_id, result.run.pk], kwargs={}, countdown=result.retry_in)
    return result.outcome


@shared_task(name="connectors.tasks.reap_stuck_runs")
def reap_stuck_runs() -> int:
    return sync.reap_stuck_runs()
