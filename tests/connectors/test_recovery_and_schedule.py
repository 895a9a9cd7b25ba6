"""The reaper never abandons a run that still holds its lock; dead workers' runs are taken over; "Next run"
is when beat really runs; a new connection's first sync is queued on save."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

import tests.connectors.sources  # noqa: F401
from connectors.locks import ADVISORY_NAMESPACE
from connectors.models import Connection, RunStatus, SyncRun
from connectors.schedule import next_run
from connectors.sync import reap_stuck_runs, recover_dead_runs
from productops.core.models import WorkerHeartbeat


def make_running(**fields: Any) -> SyncRun:
    connection = Connection.objects.create(
        name=f"c{Connection.objects.count()}", kind="slow_counter_test", schedule_kind="manual", config={}
    )
    return SyncRun.objects.create(connection=connection, status=RunStatus.RUNNING, **fields)


@pytest.mark.django_db(transaction=True)
def test_the_reaper_leaves_a_silent_run_that_still_holds_its_lock() -> None:
    if db.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    old = timezone.now() - timedelta(hours=3)
    run = make_running(started_at=old, heartbeat_at=old)
    cfg = settings.DATABASES["default"]
    other = psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1",
        port=cfg["PORT"] or 5432,
        user=cfg["USER"],
        dbname=db.settings_dict["NAME"],
    )
    backend_pid = other.info.backend_pid
    try:  # another session (a worker on a slow page) holds the connection's lock
        other.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, run.connection_id])
        reap_stuck_runs()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
    finally:
        other.close()  # the session ends, and its lock with it
    # The server ends the session a moment after the client hangs up: wait until its backend is gone.
    deadline = time.monotonic() + 10
    with db.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend_pid])
            if cursor.fetchone() is None:
                break
            time.sleep(0.05)
    reap_stuck_runs()
    run.refresh_from_db()
    assert run.status == RunStatus.ABANDONED


@pytest.mark.django_db(transaction=True)
def test_a_dead_or_restarted_worker_run_is_taken_over_and_a_live_one_is_not() -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="live@h", pid=11, last_seen_at=now)
    WorkerHeartbeat.objects.create(hostname="stale@h", pid=12, last_seen_at=now - timedelta(minutes=5))
    WorkerHeartbeat.objects.create(hostname="restarted@h", pid=99, last_seen_at=now)
    live = make_running(worker="live@h", worker_pid=11, heartbeat_at=now)
    stale = make_running(worker="stale@h", worker_pid=12, heartbeat_at=now)
    restarted = make_running(worker="restarted@h", worker_pid=13, heartbeat_at=now)
    successors = recover_dead_runs()
    for run in (live, stale, restarted):
        run.refresh_from_db()
    assert live.status == RunStatus.RUNNING
    assert stale.status == RunStatus.ABANDONED and restarted.status == RunStatus.ABANDONED
    assert sorted(s.connection_id for s in successors) == sorted(
        [stale.connection_id, restarted.connection_id]
    )
    assert all(s.status == RunStatus.QUEUED and s.trigger == "recovery" for s in successors)


@pytest.mark.django_db
def test_sync_now_takes_over_a_run_whose_worker_died(
    lead_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    WorkerHeartbeat.objects.create(
        hostname="gone@h", pid=5, last_seen_at=timezone.now() - timedelta(minutes=10)
    )
    run = make_running(worker="gone@h", worker_pid=5, heartbeat_at=timezone.now() - timedelta(minutes=10))
    url = reverse("connectors:sync", args=[run.connection_id])
    with django_capture_on_commit_callbacks() as callbacks:
        html = lead_client.post(url, follow=True).content.decode()
    assert "took over" in html and len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.ABANDONED
    assert SyncRun.objects.filter(connection_id=run.connection_id, status=RunStatus.QUEUED).count() == 1


@pytest.mark.django_db
def test_next_run_is_one_interval_after_the_schedule_was_saved_not_now() -> None:
    connection = Connection.objects.create(
        name="hourly", kind="slow_counter_test", schedule_kind="interval", interval_minutes=60, config={}
    )
    connection.refresh_from_db()
    when = next_run(connection)
    assert when is not None
    assert timedelta(minutes=59) < when - timezone.now() <= timedelta(minutes=60)
    task = connection.periodic_task
    task.last_run_at = timezone.now() - timedelta(minutes=45)
    task.save()
    connection.refresh_from_db()
    assert timedelta(minutes=14) < next_run(connection) - timezone.now() <= timedelta(minutes=15)


@pytest.mark.django_db
def test_saving_a_new_connection_queues_its_first_sync_at_once(
    lead_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    form = {
        "name": "Fresh counter",
        "schedule_kind": "interval",
        "interval_minutes": "60",
        "total": "10",
        "page_size": "5",
        "delay": "0",
        "action": "save",
    }
    with django_capture_on_commit_callbacks() as callbacks:
        html = lead_client.post(reverse("connectors:create", args=["slow_counter_test"]), form, follow=True)
    page = html.content.decode()
    connection = Connection.objects.get(name="Fresh counter")
    assert "first sync is queued now" in page
    assert (
        SyncRun.objects.filter(connection=connection, status=RunStatus.QUEUED, trigger="first").count() == 1
    )
    assert len(callbacks) == 1
    shown = page.split("Next run")[1][:200]
    assert "minutes from now" in shown or "an hour from now" in shown  # not "now": beat runs it in an hour
