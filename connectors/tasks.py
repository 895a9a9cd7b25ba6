"""Celery tasks: thin wrappers that take ids and call connectors.sync.

`sync_connection` runs with late acknowledgement (the message is acked only when the task returns, and
rejected back to the queue if its worker process is lost), soft and hard time limits
(CONNECTOR_TASK_SOFT_TIME_LIMIT / CONNECTOR_TASK_TIME_LIMIT), and the broker's visibility timeout sized
above the hard limit plus the longest retry countdown (settings.CELERY_BROKER_TRANSPORT_OPTIONS), so
Redis never hands a live task to a second worker. A worker killed outright is noticed sooner than the
visibility timeout: see connectors.sync.recover_dead_runs and connectors.watchdog.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from productops.core.workers import current_worker

from . import sync

LOCKED_RETRIES = 12


@shared_task(
    bind=True,
    name="connectors.tasks.sync_connection",
    max_retries=None,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.CONNECTOR_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CONNECTOR_TASK_TIME_LIMIT,
)
def sync_connection(self: Any, connection_id: int, run_id: int | None = None) -> str:
    """Sync one connection. Beat calls it with the id only; "Sync now" also passes the queued run's id.

    A transient error re-queues this task after an exponential, fully jittered delay that honours the
    source's Retry-After (at most CONNECTOR_RETRY_CAP); connectors.sync caps the attempts and then fails
    the run. A message for a run that has meanwhile finished (a redelivery after a worker died, once a
    new run took over) is dropped.
    """
    trigger = "schedule" if run_id is None else "manual"
    worker, worker_pid = current_worker()
    result = sync.run_sync(
        connection_id, run_id=run_id, trigger=trigger, worker=worker, worker_pid=worker_pid
    )
    if result.outcome == "retry" and result.run is not None:
        raise self.retry(args=[connection_id, result.run.pk], kwargs={}, countdown=result.retry_in)
    if result.outcome == "locked" and run_id is not None and self.request.retries < LOCKED_RETRIES:
        # The run this message names is queued but the lock is briefly held (a takeover releasing it):
        # try again shortly instead of dropping the message and leaving the run queued.
        raise self.retry(args=[connection_id, run_id], kwargs={}, countdown=5)
    return result.outcome


@shared_task(name="connectors.tasks.reap_stuck_runs")
def reap_stuck_runs() -> int:
    return sync.reap_stuck_runs()


@shared_task(name="connectors.tasks.check_connector_health")
def check_connector_health() -> list[int]:
    """Raise (or resolve) the stale-connector insight of every connection, from Connection.health."""
    from .health import check_connector_health as check

    return check()
