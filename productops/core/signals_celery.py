"""Hooks into Celery's worker lifecycle (Celery signals, not Django's)."""

from __future__ import annotations

import threading

from celery.signals import worker_ready, worker_shutdown

from .health import start_heartbeat_thread

_stop = threading.Event()


@worker_ready.connect
def _start_heartbeat(sender: object = None, **_: object) -> None:
    _stop.clear()
    start_heartbeat_thread(_stop, getattr(sender, "hostname", None))


@worker_shutdown.connect
def _stop_heartbeat(**_: object) -> None:
    _stop.set()
