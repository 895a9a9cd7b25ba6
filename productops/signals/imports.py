"""CSV imports run by a Celery worker with progress, in committed batches: the one import loop.

Both the Import page and a file uploaded to a "CSV file" connection queue an `ImportJob` and
`productops.signals.tasks.run_import(job_id)`; the request writes the file and the job, nothing else.
The worker:

1. claims the job (a fresh `claim` token, its node and process id), unless a live worker holds it;
2. validates the whole file (vectorised; the file is at most CSV_IMPORT_MAX_BYTES);
3. writes the valid rows in batches of IMPORT_BATCH_ROWS. Each batch commits with the job's progress in
   one transaction, and only while the claim is still this attempt's: all of a batch or none of it, and
   `rows_done` always says what is committed;
4. after the last batch, in one transaction: the job succeeds, the hooks record it (a connection's run
   and health), and `record_write` (on commit) runs once for everything the job wrote.

What varies by origin lives in `ImportHooks` (registered by origin; the connectors app registers the
"connection" hooks). A worker killed mid-file leaves the job "running"; `recover_dead_jobs` (every
worker's watchdog, and beat's reaper) sees its worker's heartbeat go stale, queues the job again, and
the next attempt resumes after `rows_done`; rows upsert on their keys, so nothing duplicates. The soft
time limit (IMPORT_TASK_SOFT_TIME_LIMIT) stops an attempt between statements: the job fails with the
reason, its committed batches kept and marked resumable (`resume`), and the file is kept.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from productops.core import workers

from .csv_import import CsvImportError, ImportReport, prepare_import
from .ingest import UpsertResult
from .models import ImportJob, ImportStatus
from .services import WriteScope, record_write

log = logging.getLogger(__name__)

SHOWN_ERRORS = 200


def default_batch_rows() -> int:
    return max(1, int(getattr(settings, "IMPORT_BATCH_ROWS", 5000)))


def attempt_outlived(job: ImportJob, now: Any) -> bool:
    """No attempt lives past the task's hard time limit: a job whose last batch (or claim) is older than
    that was killed, even if its worker's main process is still alive (the pool replaced the child)."""
    limit = int(getattr(settings, "IMPORT_TASK_TIME_LIMIT", 3600)) + 60
    return job.heartbeat_at is not None and job.heartbeat_at < now - timedelta(seconds=limit)


def attempt_is_dead(job: ImportJob, beats: workers.Heartbeats, now: Any) -> bool:
    return workers.is_gone(job.worker, job.worker_pid, beats, now) or attempt_outlived(job, now)


def imports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_for(token: uuid.UUID | str) -> Path:
    return imports_dir() / f"{uuid.UUID(str(token)).hex}.csv"


def bad_rows_file(token: uuid.UUID | str) -> Path:
    return imports_dir() / f"{uuid.UUID(str(token)).hex}.bad.csv"


# --- What varies by origin -----------------------------------------------------------------------------


class ImportHooks:
    """The Import page's job needs nothing more than the loop; a connection's upload overrides these."""

    source_key = "manual"
    connection_id: int | None = None
    product_id: int | None = None

    def __init__(self, job: ImportJob) -> None:
        self.product_id = job.product_id

    def started(self, job: ImportJob) -> None:
        """The attempt has claimed the job (outside any transaction)."""

    def batch_committed(self, job: ImportJob, counts: UpsertResult, rows: int) -> None:
        """Inside the batch's transaction: commits with the rows, or not at all."""

    def succeeded(self, job: ImportJob, report: ImportReport) -> None:
        """Inside the final transaction, before `record_write` is registered."""

    def failed(self, job: ImportJob, message: str) -> None:
        """The job failed (a bad file, a time limit, an error); `message` is what the user sees."""

    def reopened(self, job: ImportJob) -> None:
        """A failed job was queued again to resume (inside that transaction)."""

    def families(self, scope: WriteScope) -> set[str]:
        return set(scope.families)


HookFactory = Callable[[ImportJob], ImportHooks]
HOOKS: dict[str, HookFactory] = {}


def register_hooks(origin: str, factory: HookFactory) -> None:
    HOOKS[origin] = factory


def origin_of(job: ImportJob) -> str:
    return "connection" if job.connection_id is not None or job.run_id is not None else "page"


def hooks_for(job: ImportJob) -> ImportHooks:
    factory = HOOKS.get(origin_of(job))
    return factory(job) if factory is not None else ImportHooks(job)


# --- Queueing ------------------------------------------------------------------------------------------


def queue_import(
    token: uuid.UUID,
    kind: str,
    filename: str,
    mapping: dict[str, str],
    product_id: int | None,
    user: Any,
    **extra: Any,
) -> ImportJob:
    """Create the job and, once it commits, the task that runs it. The file is already at file_for(token)."""
    job = ImportJob.objects.create(
        token=token,
        kind=kind,
        filename=filename[:255],
        mapping=mapping,
        product_id=product_id,
        created_by=user if user is not None and user.pk else None,
        **extra,
    )
    _send(job.pk)
    return job


def _send(job_id: int) -> None:
    from .tasks import run_import

    transaction.on_commit(lambda: run_import.delay(job_id))


def resume(job: ImportJob) -> bool:
    """Queue a failed, resumable job again: it continues after its committed batches. False if it can't."""
    if not job.resumable or not file_for(job.token).exists():
        return False
    with transaction.atomic():
        reopened = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.FAILED, resumable=True).update(
            status=ImportStatus.QUEUED, error_message="", finished_at=None, resumable=False, claim=""
        )
        if not reopened:
            return False
        job.refresh_from_db()
        hooks_for(job).reopened(job)
        _send(job.pk)
    return True


# --- The loop --------------------------------------------------------------------------------------------


class TakenOver(Exception):
    """This attempt's claim was replaced (its worker was taken for dead): stop, write nothing more."""


def _claim(job_id: int) -> tuple[ImportJob, str] | None:
    """Take the job for this attempt; None when it is finished or a live worker holds it."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or not job.is_active:
        return None
    now = timezone.now()
    if job.status == ImportStatus.RUNNING and not attempt_is_dead(job, workers.heartbeats(), now):
        log.info("import %s is running on %s; this delivery leaves it alone", job.pk, job.worker)
        return None
    node, pid = workers.current_worker()
    token = uuid.uuid4().hex
    claimed = ImportJob.objects.filter(pk=job.pk, status=job.status, claim=job.claim).update(
        status=ImportStatus.RUNNING,
        worker=node,
        worker_pid=pid,
        claim=token,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
    )
    if not claimed:
        return None
    job.refresh_from_db()
    return job, token


def run_job(job_id: int, *, batch_rows: int | None = None) -> ImportJob | None:
    """Run (or resume) one import. Safe to call again: finished jobs, and jobs a live worker holds, are
    left alone. Returns the job as this attempt left it (None if there is no such job)."""
    from celery.exceptions import SoftTimeLimitExceeded

    claimed = _claim(job_id)
    if claimed is None:
        return ImportJob.objects.filter(pk=job_id).first()
    job, token = claimed
    hooks = hooks_for(job)
    try:
        hooks.started(job)
        return _run(job, token, hooks, batch_rows or default_batch_rows())
    except TakenOver:
        log.warning("import %s was taken over by another worker; this attempt stops", job.pk)
        return ImportJob.objects.get(pk=job.pk)
    except CsvImportError as exc:
        return _fail(job, token, hooks, exc.message, resumable=False)
    except SoftTimeLimitExceeded:
        limit = getattr(settings, "IMPORT_TASK_SOFT_TIME_LIMIT", 0)
        _usable_database()
        job.refresh_from_db()
        return _fail(
            job,
            token,
            hooks,
            f"The import stopped after the {limit}s that IMPORT_TASK_SOFT_TIME_LIMIT allows one attempt, with "
            f"{job.rows_done:,} of {job.rows_valid:,} valid rows committed. They stay imported; Resume "
            "continues after them (or raise the limit).",
            resumable=True,
        )
    except Exception as exc:
        log.exception("import %s failed", job.pk)
        _usable_database()
        job.refresh_from_db()
        return _fail(
            job,
            token,
            hooks,
            f"The import failed unexpectedly ({type(exc).__name__}) with {job.rows_done:,} of "
            f"{job.rows_valid:,} valid rows committed. They stay imported; Resume continues after them.",
            resumable=True,
        )


def _run(job: ImportJob, token: str, hooks: ImportHooks, size: int) -> ImportJob:
    path = file_for(job.token)
    if not path.exists():
        raise CsvImportError("The uploaded file is gone (files are kept for a day); upload it again.")
    prepared = prepare_import(
        path.read_bytes(),
        job.kind,
        mapping=job.mapping or None,
        source_key=hooks.source_key,
        connection_id=hooks.connection_id,
        product_id=hooks.product_id,
    )
    report = prepared.report
    if report.bad_rows_csv:
        bad_rows_file(job.token).write_bytes(report.bad_rows_csv)
    _guarded(
        job,
        token,
        rows_total=report.rows,
        rows_valid=prepared.good_rows,
        bad_rows=report.bad_rows,
        error_count=len(report.errors),
        errors=[[e.row, e.column, e.message] for e in report.errors[:SHOWN_ERRORS]],
        encoding=report.encoding,
        # The mapping this attempt used: a resumed attempt validates the file the same way, so the
        # valid rows are the same rows in the same order and `rows_done` still counts them.
        mapping=report.mapping,
    )
    job.refresh_from_db()
    scope = _load_scope(job.scope)
    start = job.rows_done  # resume after the last committed batch
    while start < prepared.good_rows:
        stop = min(start + size, prepared.good_rows)
        with workers.soft_limit_deferred(), transaction.atomic():
            report.scope = WriteScope()  # what this batch writes
            counts = prepared.write(start, stop)
            scope.merge(report.scope)
            _guarded(
                job,
                token,
                rows_done=stop,
                inserted=F("inserted") + counts.inserted,
                updated=F("updated") + counts.updated,
                unchanged=F("unchanged") + counts.unchanged,
                heartbeat_at=timezone.now(),
                scope=_dump_scope(scope),
            )
            hooks.batch_committed(job, counts, stop - start)
        start = stop
    with workers.soft_limit_deferred(), transaction.atomic():
        _guarded(job, token, status=ImportStatus.SUCCEEDED, finished_at=timezone.now(), claim="")
        job.refresh_from_db()
        hooks.succeeded(job, report)
        if job.inserted or job.updated:
            record_write(
                hooks.source_key,
                hooks.families(scope),
                scope.product_ids or {hooks.product_id},
                scope.since,
                metric_ids=scope.metric_ids,
                connection_id=hooks.connection_id,
            )
    path.unlink(missing_ok=True)
    log.info("import %s (%s): %s rows, %s committed", job.pk, job.filename, job.rows_total, job.rows_done)
    return job


def _usable_database() -> None:
    """After an interruption mid-statement the connection may be unusable; a new one is opened then."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()


def _guarded(job: ImportJob, token: str, **values: Any) -> None:
    """Update the job only while this attempt's claim holds; else roll back whatever it was writing."""
    if not ImportJob.objects.filter(pk=job.pk, claim=token).update(**values):
        raise TakenOver(job.pk)


def _fail(job: ImportJob, token: str, hooks: ImportHooks, message: str, *, resumable: bool) -> ImportJob:
    resumable = resumable and file_for(job.token).exists()
    with transaction.atomic():
        failed = ImportJob.objects.filter(pk=job.pk, claim=token).update(
            status=ImportStatus.FAILED,
            error_message=message,
            finished_at=timezone.now(),
            resumable=resumable,
            claim="",
        )
        job.refresh_from_db()
        if failed:
            hooks.failed(job, message)
    return job


def _load_scope(stored: dict[str, Any]) -> WriteScope:
    since = stored.get("since")
    return WriteScope(
        families=set(stored.get("families", [])),
        product_ids=set(stored.get("product_ids", [])),
        metric_ids=set(stored.get("metric_ids", [])),
        since=datetime.fromisoformat(since) if since else None,
    )


def _dump_scope(scope: WriteScope) -> dict[str, Any]:
    return {
        "families": sorted(scope.families),
        "product_ids": sorted(scope.product_ids, key=lambda p: (p is None, p or 0)),
        "metric_ids": sorted(scope.metric_ids),
        "since": scope.since.isoformat() if scope.since else None,
    }


# --- Dead workers ----------------------------------------------------------------------------------------


def recover_dead_jobs() -> list[int]:
    """Queue again every running job whose worker stopped sending heartbeats (killed, OOM, host lost).

    The job goes back to queued with its claim cleared, so the dead attempt could not commit another
    batch even if it came back; the next attempt resumes after `rows_done`."""
    now = timezone.now()
    beats = workers.heartbeats()
    recovered = []
    for job in ImportJob.objects.filter(status=ImportStatus.RUNNING).exclude(worker=""):
        if not attempt_is_dead(job, beats, now):
            continue
        with transaction.atomic():
            requeued = ImportJob.objects.filter(
                pk=job.pk, status=ImportStatus.RUNNING, claim=job.claim
            ).update(status=ImportStatus.QUEUED, claim="", worker="", worker_pid=0)
            if requeued:
                _send(job.pk)
        if requeued:
            log.warning(
                "import %s: worker %s is gone after %s committed rows; queued again to resume",
                job.pk,
                job.worker,
                job.rows_done,
            )
            recovered.append(job.pk)
    return recovered
