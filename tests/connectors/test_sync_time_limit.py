"""Issue 15 #6: a sync's soft time limit fires on a real (prefork) worker, keeps the committed pages, and
the sync continues from its cursor in time-boxed slices until it is done, every record once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.models import Connection, RunStatus, SyncRun
from connectors.tasks import sync_connection
from productops.signals.models import SupportTicket
from tests.workers import celery_worker

from .broker import drain

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TOTAL = 100


def test_a_sync_stopped_by_its_soft_time_limit_continues_from_the_cursor_on_a_real_worker(
    monkeypatch: Any,
) -> None:
    connection = Connection.objects.create(
        name="slow source",
        kind="slow_counter_test",
        schedule_kind="manual",
        config={"total": TOTAL, "page_size": 5, "delay": 0.3},  # 20 pages: at least 6 s of reading
    )
    # The limits travel in the message (from the sender's task options, cached at the first send).
    monkeypatch.setattr(sync_connection, "soft_time_limit", 3)
    monkeypatch.setattr(sync_connection, "time_limit", 30)
    monkeypatch.setattr(sync_connection, "_exec_options", None)
    drain()
    env = {
        "PRODUCTOPS_EXTRA_CONNECTORS": "tests.connectors.sources",
        "CONNECTOR_TASK_SOFT_TIME_LIMIT": "3",
        "CONNECTOR_TASK_TIME_LIMIT": "30",
        "CONNECTOR_RETRY_BASE": "0.5",
    }
    try:
        with celery_worker(queues="connectors", **env):
            sync_connection.delay(connection.pk)
            deadline = time.monotonic() + 180
            while not SyncRun.objects.filter(connection=connection, status=RunStatus.SUCCEEDED).exists():
                assert time.monotonic() < deadline, "timed out waiting for the sync to finish"
                assert not SyncRun.objects.filter(connection=connection, status=RunStatus.FAILED).exists()
                time.sleep(0.2)
    finally:
        sync_connection._exec_options = None
    run = SyncRun.objects.get(connection=connection)
    assert "SoftTimeLimitExceeded" in run.traceback  # the limit fired: the attempt stopped and was retried
    assert run.pages == TOTAL // 5
    ids = list(
        SupportTicket.objects.filter(source_key=connection.source_key).values_list("external_id", flat=True)
    )
    assert len(ids) == TOTAL and set(ids) == {f"t{i}" for i in range(TOTAL)}
    connection.refresh_from_db()
    assert connection.cursors["tickets"]["offset"] == TOTAL
    drain()
    drain("insights")
