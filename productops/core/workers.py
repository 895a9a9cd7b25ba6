"""Which Celery worker runs this code, and whether a worker that claimed some work is still alive.

Sync runs (connectors.sync) and import jobs (productops.signals.imports) record the node and main
process that claimed them; these helpers read the heartbeats (productops.core.health) to tell a dead
worker's work from a live one's.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

Heartbeats = dict[str, tuple[Any, int]]
SOFT_LIMIT_SIGNAL = signal.SIGUSR1  # what billiard sends a pool process at its task's soft time limit


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


@contextmanager
def soft_limit_deferred() -> Iterator[None]:
    """Inside the block, a task's soft time limit waits until the block ends, then is raised.

    Celery raises SoftTimeLimitExceeded from a signal handler wherever the task is, which can be in the
    middle of a statement or a COMMIT, leaving the connection mid-protocol and the commit's outcome
    unknown. Around a transaction this defers it, so a batch or page is committed or rolled back whole
    and the caller's handler finds a usable connection. Only in a prefork worker's child (where billiard
    installed the handler); elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(SOFT_LIMIT_SIGNAL)
    if getattr(previous, "__name__", "") != "soft_timeout_sighandler":
        yield
        return
    fired: list[int] = []
    signal.signal(SOFT_LIMIT_SIGNAL, lambda signum, frame: fired.append(signum))
    try:
        yield
    except BaseException:
        signal.signal(SOFT_LIMIT_SIGNAL, previous)
        raise
    signal.signal(SOFT_LIMIT_SIGNAL, previous)
    if fired:
        from celery.exceptions import SoftTimeLimitExceeded

        raise SoftTimeLimitExceeded()
