"""The checks behind /healthz: the database, the Celery broker and a live worker heartbeat."""

from __future__ import annotations

import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

HEARTBEAT_INTERVAL_SECONDS = 10


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"[:300]
    return "ok"


def check_broker() -> str:
    from kombu import Connection

    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"[:300]
    return "ok"


def check_worker() -> str:
    from .models import WorkerHeartbeat

    try:
        newest = (
            WorkerHeartbeat.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()
        )
    except Exception as exc:
        return f"error: cannot read heartbeats: {exc.__class__.__name__}"
    if newest is None:
        return "error: no worker has ever reported; start one with `celery -A productops worker`"
    age = timezone.now() - newest
    if age > timedelta(seconds=settings.WORKER_HEARTBEAT_TTL):
        return f"error: last worker heartbeat {int(age.total_seconds())}s ago"
    return "ok"


def write_heartbeat(node: str | None = None) -> None:
    """One row per worker node name ("celery@host"), so two workers on one host are told apart."""
    from .models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        hostname=node or socket.gethostname(), defaults={"pid": os.getpid(), "last_seen_at": timezone.now()}
    )


def start_heartbeat_thread(stop: threading.Event, node: str | None = None) -> threading.Thread:
    """Runs in the worker's main process (started from the worker_ready signal).

    connectors.recovery reads these rows to tell a dead worker's sync runs from live ones."""

    def loop() -> None:
        import logging

        log = logging.getLogger("productops.heartbeat")
        from django.db import close_old_connections

        while not stop.is_set():
            try:
                close_old_connections()  # a long-lived thread must not keep a dead connection
                write_heartbeat(node)
            except Exception:
                log.exception("could not write the worker heartbeat")
            stop.wait(HEARTBEAT_INTERVAL_SECONDS)

    thread = threading.Thread(target=loop, name="productops-heartbeat", daemon=True)
    thread.start()
    return thread
