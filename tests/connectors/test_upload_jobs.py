"""A file uploaded to a "CSV file" connection is imported by a worker, through the one import loop.

Issue 15 #9 for the connection's upload: the request stores the file and queues the job (no row is written
in it); a real worker on the configured broker imports it in committed batches with the connection's run
and health following; a worker killed with SIGKILL mid-file is noticed from its heartbeat and the import
resumes on another worker with nothing lost or duplicated; the soft time limit stops an attempt with a
clear, resumable failure; a malformed row is a row error and the rest imports.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from connectors.models import Connection, Health, RunStatus, SyncRun
from insights.models import PendingRecompute
from productops.core.models import WorkerHeartbeat
from productops.signals import csv_import, imports
from productops.signals.models import ImportJob, ImportStatus, SupportTicket
from tests.workers import celery_worker

from .broker import drain, forget_unacked


def tickets_csv(n: int, bad: dict[int, str] | None = None) -> bytes:
    """n tickets; `bad` maps a 0-based data row to the "opened at" text it gets instead of a date."""
    bad = bad or {}
    lines = ["id,subject,opened at"]
    for i in range(n):
        lines.append(f"u{i},Export fails {i % 97},{bad.get(i, f'2026-03-{1 + i % 28:02d}')}")
    return ("\n".join(lines) + "\n").encode()


def make_connection() -> Connection:
    return Connection.objects.create(name="Help desk export", kind="csv_tickets", schedule_kind="manual")


def post_upload(client: Client, connection: Connection, data: bytes, name: str = "tickets.csv") -> Any:
    return client.post(
        reverse("connectors:upload", args=[connection.pk]),
        {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
    )


def wait_for(check: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def ids(connection: Connection) -> list[str]:
    return list(
        SupportTicket.objects.filter(source_key=connection.source_key).values_list("external_id", flat=True)
    )


# --- In the request, and the loop in-process --------------------------------------------------------


@pytest.mark.django_db
def test_the_upload_request_queues_the_import_and_writes_no_row(
    lead_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    connection = make_connection()
    data = tickets_csv(50_000)
    started = time.perf_counter()
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_upload(lead_client, connection, data)
    request_ms = (time.perf_counter() - started) * 1000
    print(f"upload request: rows=50000 bytes={len(data)} request_ms={request_ms:.0f}")
    assert response.status_code == 302
    assert SupportTicket.objects.count() == 0  # nothing is written in the request
    run = SyncRun.objects.get(connection=connection)
    job = ImportJob.objects.get()
    assert (run.status, run.trigger, job.status) == (RunStatus.QUEUED, "upload", ImportStatus.QUEUED)
    assert (job.run_id, job.connection_id, job.rows_done) == (run.pk, connection.pk, 0)
    assert imports.file_for(job.token).read_bytes() == data
    assert len(callbacks) == 1  # run_import(job) is sent once the request's transaction commits
    assert response["Location"] == reverse("connectors:run", args=[run.pk])
    page = lead_client.get(response["Location"]).content.decode()
    assert "Waiting for a worker to start the import" in page and 'http-equiv="refresh"' in page
    assert request_ms < 5000

    # A second upload while this one is queued is refused, not run beside it.
    again = post_upload(lead_client, connection, data)
    assert "busy with another import" in lead_client.get(again["Location"]).content.decode()
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db
def test_a_malformed_row_is_a_row_error_and_every_other_row_imports(
    lead_client: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.IMPORT_BATCH_ROWS = 100
    connection = make_connection()
    post_upload(lead_client, connection, tickets_csv(1000, bad={500: "2026-13-45", 501: "9999-12-28"}))
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        imports.run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_total, job.rows_valid, job.rows_done, job.bad_rows) == (
        ImportStatus.SUCCEEDED,
        1000,
        998,
        998,
        2,
    )
    assert [row for row, _, _ in job.errors] == [502, 503]  # spreadsheet rows: the header is row 1
    assert "is not a date" in job.errors[0][2] and "plausible range" in job.errors[1][2]
    got = ids(connection)
    assert len(got) == len(set(got)) == 998 and "u500" not in got and "u501" not in got
    run = SyncRun.objects.get(import_job=job)
    assert (run.status, run.pages, run.rows_read, run.rows_inserted) == (RunStatus.SUCCEEDED, 10, 1000, 998)
    assert "2 of 1000 rows were skipped: Row 502, column 'opened at'" in run.error_message
    connection.refresh_from_db()
    assert connection.health() == Health.OK and connection.rows_synced == 998
    assert connection.cursors["file"]["name"] == "tickets.csv"
    # The post-write step ran once, after the commit, for the connection's tickets.
    assert any(connection.pk in p.connection_ids for p in PendingRecompute.objects.all())
    page = lead_client.get(reverse("connectors:run", args=[run.pk])).content.decode()
    assert "998 of 998 valid rows committed; 2 rows with errors" in page and "2026-13-45" in page
    drain("insights")


@pytest.mark.django_db(transaction=True)
def test_an_attempt_whose_claim_was_taken_over_commits_nothing_more(monkeypatch: Any, settings: Any) -> None:
    """The fence: once recovery (another process) re-queues a job, the old attempt's next batch rolls back."""
    from django.db import connections

    settings.IMPORT_BATCH_ROWS = 5
    import uuid

    token = uuid.uuid4()
    imports.file_for(token).write_bytes(tickets_csv(12))
    job = ImportJob.objects.create(token=token, kind="tickets", filename="t.csv")
    real_write = csv_import.PreparedImport.write
    calls = {"n": 0}

    def taken_over_in_batch_two(self: csv_import.PreparedImport, start: int, stop: int) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # what recover_dead_jobs does, on its own connection, while this attempt writes
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute(
                        "UPDATE signals_importjob SET status = 'queued', claim = '', worker = '' WHERE id = %s",
                        [job.pk],
                    )
                if not other.get_autocommit():
                    other.commit()
            finally:
                other.close()
        return real_write(self, start, stop)

    monkeypatch.setattr(csv_import.PreparedImport, "write", taken_over_in_batch_two)
    left = imports.run_job(job.pk)
    assert left is not None and (left.status, left.rows_done) == (ImportStatus.QUEUED, 5)
    assert SupportTicket.objects.count() == 5  # batch 2 was written, then rolled back with the fence

    monkeypatch.setattr(csv_import.PreparedImport, "write", real_write)
    done = imports.run_job(job.pk)
    assert done is not None and (done.status, done.rows_done, done.inserted, done.attempts) == (
        ImportStatus.SUCCEEDED,
        12,
        12,
        2,
    )
    assert SupportTicket.objects.count() == 12


@pytest.mark.django_db
def test_recovery_requeues_only_jobs_whose_worker_is_gone(django_capture_on_commit_callbacks: Any) -> None:
    from django.utils import timezone

    WorkerHeartbeat.objects.create(hostname="alive@host", pid=42, last_seen_at=timezone.now())
    common = {"kind": "tickets", "filename": "t.csv", "status": ImportStatus.RUNNING, "claim": "x"}
    import uuid

    alive = ImportJob.objects.create(token=uuid.uuid4(), worker="alive@host", worker_pid=42, **common)
    dead = ImportJob.objects.create(token=uuid.uuid4(), worker="killed@host", worker_pid=7, **common)
    restarted = ImportJob.objects.create(token=uuid.uuid4(), worker="alive@host", worker_pid=41, **common)
    with django_capture_on_commit_callbacks() as sent:
        recovered = imports.recover_dead_jobs()
    assert sorted(recovered) == sorted([dead.pk, restarted.pk]) and len(sent) == 2
    statuses = dict(ImportJob.objects.values_list("pk", "status"))
    assert statuses == {alive.pk: "running", dead.pk: "queued", restarted.pk: "queued"}
    assert ImportJob.objects.get(pk=dead.pk).claim == ""


@pytest.mark.django_db
def test_a_sync_or_the_reaper_never_takes_an_uploads_run_from_its_import_job(lead_client: Client) -> None:
    """The upload's run is the job's: a scheduled sync must not adopt it (and succeed it with 0 rows), and
    the run reaper must not abandon it; the job's own recovery handles a dead worker."""
    from datetime import timedelta

    from django.utils import timezone

    from connectors.sync import reap_stuck_runs, run_sync

    connection = make_connection()
    post_upload(lead_client, connection, tickets_csv(10))
    run = SyncRun.objects.get(connection=connection)
    assert run_sync(connection.pk).outcome == "skipped"
    old = timezone.now() - timedelta(days=2)
    SyncRun.objects.filter(pk=run.pk).update(queued_at=old)
    reap_stuck_runs()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and SyncRun.objects.filter(connection=connection).count() == 1
    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=old, heartbeat_at=old)
    reap_stuck_runs()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    sync = lead_client.post(reverse("connectors:sync", args=[connection.pk]), follow=True)
    assert "it has nothing to sync" in sync.content.decode()


# --- On a real worker ------------------------------------------------------------------------------


def redis_only() -> None:
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("measured on the Redis broker (late ack + redelivery as deployed)")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_a_real_worker_on_redis(lead_client: Client) -> None:
    redis_only()
    connection = make_connection()
    n = 20_000
    drain("default")
    with celery_worker(queues="default", IMPORT_BATCH_ROWS="2000"):
        response = post_upload(lead_client, connection, tickets_csv(n))
        assert SupportTicket.objects.count() == 0
        run = SyncRun.objects.get(connection=connection)
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED, "the import")
    run.refresh_from_db()
    job = ImportJob.objects.get(run=run)
    assert job.worker.startswith("test-") and job.attempts == 1
    assert (run.pages, run.rows_read, run.rows_inserted) == (10, n, n)
    got = ids(connection)
    assert len(got) == len(set(got)) == n
    connection.refresh_from_db()
    assert connection.health() == Health.OK and connection.last_success_at is not None
    page = lead_client.get(response["Location"]).content.decode()
    assert f"{n:,} of {n:,} valid rows committed" in page and 'http-equiv="refresh"' not in page
    drain("insights")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_import_resumes_on_a_live_worker_with_nothing_lost_or_duplicated(
    lead_client: Client,
) -> None:
    """Two workers; the one importing is SIGKILLed after a few committed batches. The survivor's watchdog
    sees the dead worker's heartbeat go stale, queues the job again, and it resumes after rows_done."""
    redis_only()
    if db.vendor != "postgresql":
        pytest.skip("the worker subprocesses share the PostgreSQL test database")
    connection = make_connection()
    n, batch = 200_000, 1000
    drain("default")
    env = {"IMPORT_BATCH_ROWS": str(batch)}
    with (
        celery_worker(queues="default", name="victim", **env) as first,
        celery_worker(queues="default", name="standby", **env) as second,
    ):
        post_upload(lead_client, connection, tickets_csv(n))
        job = ImportJob.objects.get()
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).rows_done >= 3 * batch, "a few committed batches")
        job.refresh_from_db()
        victim, survivor = (first, second) if job.worker.startswith("victim@") else (second, first)
        os.killpg(victim.pid, signal.SIGKILL)  # no warm shutdown: the attempt dies mid-batch
        victim.wait()
        killed_at = time.monotonic()
        at_kill = SupportTicket.objects.count()
        job.refresh_from_db()
        assert at_kill == job.rows_done < n  # all-or-nothing batches: exactly the committed rows
        wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.SUCCEEDED,
            "the import to complete after the kill",
            timeout=240,
        )
        recovery_s = time.monotonic() - killed_at
        assert survivor.poll() is None
    print(f"upload kill-9 recovery: import completed {recovery_s:.1f}s after the worker was killed")
    job.refresh_from_db()
    assert job.attempts == 2 and job.rows_done == n and job.inserted == n
    got = ids(connection)
    assert len(got) == n and set(got) == {f"u{i}" for i in range(n)}
    run = SyncRun.objects.get(import_job=job)
    assert run.status == RunStatus.SUCCEEDED and run.rows_inserted == n
    assert list(SyncRun.objects.filter(connection=connection).values_list("status", flat=True)) == [
        RunStatus.SUCCEEDED
    ]
    assert recovery_s < 120
    drain("insights")
    forget_unacked("run_import")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_soft_time_limit_fires_on_a_real_worker_and_the_job_resumes(
    lead_client: Client, monkeypatch: Any
) -> None:
    redis_only()
    from productops.signals.tasks import run_import

    connection = make_connection()
    n = 60_000
    drain("default")
    limited = {"IMPORT_TASK_SOFT_TIME_LIMIT": "4", "IMPORT_TASK_TIME_LIMIT": "60", "IMPORT_BATCH_ROWS": "100"}
    # The limits travel in the message (Celery's `timelimit` header, from the sender's task), so the web
    # process and the worker must share them, as they share the environment in a deployment.
    monkeypatch.setattr(run_import, "soft_time_limit", 4)
    monkeypatch.setattr(run_import, "time_limit", 60)
    monkeypatch.setattr(run_import, "_exec_options", None)  # Celery caches them at the first send
    with celery_worker(queues="default", **limited):
        post_upload(lead_client, connection, tickets_csv(n))
        job = ImportJob.objects.get()
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.FAILED, "the soft limit")
    job.refresh_from_db()
    assert job.resumable and 0 < job.rows_done < job.rows_valid == n
    assert "4s that IMPORT_TASK_SOFT_TIME_LIMIT allows" in job.error_message
    assert SupportTicket.objects.count() == job.rows_done  # whole batches only
    assert imports.file_for(job.token).exists()
    first_run = SyncRun.objects.get(import_job=job)
    assert first_run.status == RunStatus.FAILED and "IMPORT_TASK_SOFT_TIME_LIMIT" in first_run.error_message
    connection.refresh_from_db()
    assert connection.health() == Health.FAILING
    page = lead_client.get(reverse("connectors:run", args=[first_run.pk])).content.decode()
    assert "Resume the import" in page

    committed = job.rows_done
    monkeypatch.undo()
    run_import._exec_options = None
    with celery_worker(queues="default"):
        response = lead_client.post(reverse("connectors:upload_resume", args=[first_run.pk]))
        job.refresh_from_db()
        assert response["Location"] == reverse("connectors:run", args=[job.run_id])
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.SUCCEEDED, "the resumed job")
    job.refresh_from_db()
    got = ids(connection)
    assert len(got) == len(set(got)) == n and job.inserted == n
    second_run = SyncRun.objects.get(import_job=job)
    assert second_run.status == RunStatus.SUCCEEDED and second_run.rows_inserted == n - committed
    connection.refresh_from_db()
    assert connection.health() == Health.OK
    drain("insights")
