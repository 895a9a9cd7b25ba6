"""CSV imports from the Import page, run by a Celery worker with progress, in committed batches.

The page queues an `ImportJob` and `productops.signals.tasks.run_import(job_id)`; the worker validates the
whole file (vectorised; the file is at most CSV_IMPORT_MAX_BYTES), then writes the valid rows in batches of
IMPORT_BATCH_ROWS. Each batch commits with the job's progress in one transaction: all of a batch or none
of it, and `rows_done` always says what is committed. A worker killed mid-file leaves the job "running";
the next run of the task (Celery redelivers it: late acknowledgement) resumes after `rows_done`, and since
rows upsert on their keys, a batch written twice duplicates nothing. After the last batch the post-write
step (`record_write`) runs once for the whole file.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .csv_import import CsvImportError, prepare_import
from .models import ImportJob, ImportStatus
from .services import record_write

log = logging.getLogger(__name__)

IMPORT_BATCH_ROWS = 5000
SHOWN_ERRORS = 200


def imports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_for(token: uuid.UUID | str) -> Path:
    return imports_dir() / f"{uuid.UUID(str(token)).hex}.csv"


def bad_rows_file(token: uuid.UUID | str) -> Path:
    return imports_dir() / f"{uuid.UUID(str(token)).hex}.bad.csv"


def queue_import(
    token: uuid.UUID, kind: str, filename: str, mapping: dict[str, str], product_id: int | None, user: Any
) -> ImportJob:
    """Create the job and, once it commits, the task that runs it."""
    from .tasks import run_import

    job = ImportJob.objects.create(
        token=token,
        kind=kind,
        filename=filename[:255],
        mapping=mapping,
        product_id=product_id,
        created_by=user if user is not None and user.pk else None,
    )
    job_id = job.pk
    transaction.on_commit(lambda: run_import.delay(job_id))
    return job


def run_job(job_id: int, *, batch_rows: int = IMPORT_BATCH_ROWS) -> ImportJob:
    """Run (or resume) one import. Safe to call again: finished jobs are left alone."""
    job = ImportJob.objects.get(pk=job_id)
    if not job.is_active:
        return job
    path = file_for(job.token)
    if not path.exists():
        return _fail(job, "The uploaded file is gone (files are kept for a day); upload it again.")
    try:
        prepared = prepare_import(
            path.read_bytes(),
            job.kind,
            mapping=job.mapping or None,
            source_key="manual",
            product_id=job.product_id,
        )
    except CsvImportError as exc:
        return _fail(job, exc.message)
    report = prepared.report
    if report.bad_rows_csv:
        bad_rows_file(job.token).write_bytes(report.bad_rows_csv)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING,
        started_at=job.started_at or timezone.now(),
        rows_total=report.rows,
        rows_valid=prepared.good_rows,
        bad_rows=report.bad_rows,
        error_count=len(report.errors),
        errors=[[e.row, e.column, e.message] for e in report.errors[:SHOWN_ERRORS]],
        encoding=report.encoding,
    )
    job.refresh_from_db()
    start = job.rows_done  # resume after the last committed batch
    resumed = start > 0
    while start < prepared.good_rows:
        stop = min(start + batch_rows, prepared.good_rows)
        with transaction.atomic():
            counts = prepared.write(start, stop)
            ImportJob.objects.filter(pk=job.pk).update(
                rows_done=stop,
                inserted=F("inserted") + counts.inserted,
                updated=F("updated") + counts.updated,
                unchanged=F("unchanged") + counts.unchanged,
            )
        start = stop
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.SUCCEEDED, finished_at=timezone.now())
        job.refresh_from_db()
        if job.inserted or job.updated:
            scope = report.scope
            if resumed:  # batches committed by the killed run: their products and family
                scope.product_ids.add(job.product_id)
                scope.since = None
            record_write(
                "manual", scope.families, scope.product_ids, scope.since, metric_ids=scope.metric_ids
            )
    path.unlink(missing_ok=True)
    log.info("import %s (%s): %s rows, %s committed", job.pk, job.filename, job.rows_total, job.rows_done)
    return job


def _fail(job: ImportJob, message: str) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, error_message=message, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
