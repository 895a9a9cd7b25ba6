"""A thread in every Celery worker that takes over sync runs and import jobs whose worker died.

Started from the worker_ready signal (connected in ConnectorsConfig.ready). Every
CONNECTOR_WATCHDOG_INTERVAL seconds it calls connectors.sync.recover_dead_runs: a running run whose
worker's heartbeat (productops.core) is older than CONNECTOR_DEAD_WORKER_AFTER, or whose worker node
restarted, is abandoned and a new run is queued, provided its lock is free; then
productops.signals.imports.recover_dead_jobs queues such a worker's import jobs again (they resume after
their committed batches). Beat's reaper calls both every minute, so recovery also happens when no other
worker is up but beat is.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

log = logging.getLogger(__name__)
_stop = threading.Event()


def _loop() -> None:
    from django.db import close_old_connections

    from productops.signals.imports import recover_dead_jobs

    from .sync import recover_dead_runs

    interval = float(getattr(settings, "CONNECTOR_WATCHDOG_INTERVAL", 10))
    while not _stop.wait(interval):
        try:
            close_old_connections()
            recover_dead_runs()
            recover_dead_jobs()
        except Exception:
            log.exception("the dead-worker watchdog failed this round")


def start(**_: object) -> None:
    if float(getattr(settings, "CONNECTOR_WATCHDOG_INTERVAL", 10)) <= 0:
        return
    _stop.clear()
    threading.Thread(target=_loop, name="productops-connectors-watchdog", daemon=True).start()


def stop(**_: object) -> None:
    _stop.set()
