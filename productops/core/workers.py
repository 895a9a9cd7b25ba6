"""Which Celery worker runs this code, and whether a worker that claimed some work is still alive.

Sync runs (connectors.sync) and import jobs (productops.signals.imports) record the node and main
process that claimed them; these helpers read the heartbeats (productops.core.health) to tell a dead
worker's work from a live one's.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

Heartbeats = dict[str, tuple[Any, int]]


def dead_worker_after() -> timedelta:
    """No heartbeat for this long: the worker is gone (CONNECTOR_DEAD_WORKER_AFTER, for syncs and imports)."""
    return timedelta(seconds=int(getattr(settings, "CONNECTOR_DEAD_WORKER_AFTER", 30)))


def heartbeats() -> Heartbeats:
    from .models import WorkerHeartbeat

    return {
        h: (seen, pid)
        for h, seen, pid in WorkerHeartbeat.objects.values_list("hostname", "last_seen_at", "pid")
    }


def is_gone(worker: str, worker_pid: int, beats: Heartbeats, now: datetime) -> bool:
    """No fresh heartbeat from the node, or the node restarted (another main process) since it claimed."""
    seen = beats.get(worker)
    if seen is None:
        return True
    last_seen, pid = seen
    if last_seen < now - dead_worker_after():
        return True
    return bool(worker_pid) and pid != worker_pid


def current_worker() -> tuple[str, int]:
    """(node name, main process id) of the Celery worker running this code; ("", pid) outside a worker."""
    from celery import current_task

    node = ""
    task = current_task
    if task and task.request is not None:  # a proxy: false outside a task
        node = task.request.hostname or ""
    try:
        from billiard.process import current_process

        main = current_process().name == "MainProcess"
    except Exception:
        main = True
    return node, os.getpid() if main else os.getppid()
