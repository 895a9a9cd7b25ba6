"""A file uploaded to a "CSV file" connection: an import job (productops.signals.imports) whose run history
is the connection's.

The request only checks the file's size, encoding and header, stores it, and creates a queued SyncRun
(trigger "upload") with its `ImportJob`; a worker runs the job through the one import loop, with these
hooks: the run follows the job (running, then per committed batch its counts and heartbeat, then
succeeded or failed), and the connection's health with it (a success clears the error streak, a failure
adds to it). `record_write` runs after the job commits, with the connection's id. The one-active-run
constraint keeps a second upload (or a sync) from running beside it. A dead worker's job is recovered by
`productops.signals.imports.recover_dead_jobs`, not by the sync takeover: the run records no worker.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from productops.signals import imports
from productops.signals.csv_import import CsvImportError, ImportReport, check_upload
from productops.signals.ingest import UpsertResult
from productops.signals.models import ImportJob
from productops.signals.services import WriteScope

from .base import REGISTRY, ConnectorError, data_family
from .models import Connection, RunStatus, SyncRun
from .sync import _finish, fail_run, queue_run

log = logging.getLogger(__name__)
SHOWN_ERRORS = 10


def queue_upload(connection: Connection, data: bytes, filename: str, user: Any = None) -> SyncRun:
    """Check the file's header, store it, and queue its import as a run of the connection. Writes no rows.

    Raises ConnectorError when the connection takes no uploads, is busy, or the file is unusable as a
    whole (too big, not text, required columns missing); row problems are the job's to report."""
    cls = REGISTRY.get(connection.kind)
    import_kind = getattr(cls, "import_kind", None)
    if import_kind is None:
        raise ConnectorError(f"“{connection.name}” doesn't take file uploads.", permanent=True)
    try:
        check_upload(data, import_kind)
    except CsvImportError as exc:
        raise ConnectorError(f"{filename}: {exc.message}", permanent=True) from None
    token = uuid.uuid4()
    path = imports.file_for(token)
    path.write_bytes(data)
    try:
        with transaction.atomic():
            run = queue_run(connection, trigger="upload")
            if run is None:
                raise ConnectorError(
                    "This connection is busy with another import or sync; upload again once it has finished."
                )
            run.cursor_before = dict(connection.cursors or {})
            run.save(update_fields=["cursor_before"])
            imports.queue_import(
                token,
                import_kind,
                filename,
                {},
                connection.product_id,
                user,
                connection=connection,
                run=run,
                file_sha256=hashlib.sha256(data).hexdigest(),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("connection %s: upload %s queued as run %s", connection.pk, filename[:80], run.pk)
    return run


class UploadHooks(imports.ImportHooks):
    """The connection's side of an upload's import job: its run and its health."""

    def __init__(self, job: ImportJob) -> None:
        super().__init__(job)
        self.connection = Connection.objects.filter(pk=job.connection_id or 0).first()
        self.connection_id = job.connection_id
        self.source_key = self.connection.source_key if self.connection else "manual"
        self.product_id = self.connection.product_id if self.connection else job.product_id

    def _run(self, job: ImportJob) -> Any:
        return SyncRun.objects.filter(pk=job.run_id or 0)

    def started(self, job: ImportJob) -> None:
        if self.connection is None:
            raise CsvImportError("The connection this file was uploaded to has been deleted.")
        now = timezone.now()
        self._run(job).update(
            status=RunStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )

    def batch_committed(self, job: ImportJob, counts: UpsertResult, rows: int) -> None:
        self._run(job).update(
            pages=F("pages") + 1,
            rows_read=F("rows_read") + rows,
            rows_inserted=F("rows_inserted") + counts.inserted,
            rows_updated=F("rows_updated") + counts.updated,
            rows_unchanged=F("rows_unchanged") + counts.unchanged,
            heartbeat_at=timezone.now(),
        )

    def succeeded(self, job: ImportJob, report: ImportReport) -> None:
        run = self._run(job).select_for_update().first()
        if run is None or self.connection is None:
            return
        message = ""
        if job.bad_rows:
            shown = "; ".join(str(e) for e in report.errors[:SHOWN_ERRORS])
            more = job.error_count - SHOWN_ERRORS
            message = (
                f"{job.bad_rows} of {job.rows_total} rows were skipped: {shown}"
                + (f"; and {more} more." if more > 0 else ".")
                + " Fix them and upload the file again; rows already imported won't duplicate."
            )
        after = {
            **(self.connection.cursors or {}),
            "file": {"name": job.filename[:200], "sha256": job.file_sha256},
        }
        run.rows_read += job.bad_rows  # every row of the file was read; the valid ones counted per batch
        run.save(update_fields=["rows_read"])
        _finish(run, RunStatus.SUCCEEDED, message, cursor_after=after)
        Connection.objects.filter(pk=self.connection.pk).update(
            cursors=after,
            last_success_at=run.finished_at,
            error_streak=0,
            last_error="",
            rows_synced=F("rows_synced") + run.rows_inserted + run.rows_updated,
        )

    def failed(self, job: ImportJob, message: str) -> None:
        run = self._run(job).first()
        if run is None or self.connection is None or not run.is_active:
            return
        fail_run(self.connection, run, f"{job.filename}: {message}")

    def reopened(self, job: ImportJob) -> None:
        """Resume: a new run of the connection continues the job (the failed run stays in the history)."""
        if self.connection is None:
            raise ConnectorError("The connection this file was uploaded to has been deleted.", permanent=True)
        run = queue_run(self.connection, trigger="upload")
        if run is None:
            raise ConnectorError("This connection is busy with another import or sync; resume it afterwards.")
        ImportJob.objects.filter(pk=job.pk).update(run=run)
        job.run = run

    def families(self, scope: WriteScope) -> set[str]:
        cls = REGISTRY.get(self.connection.kind) if self.connection else None
        family = data_family(cls, self.connection.config) if cls and self.connection else None
        return set(scope.families) | ({family} if family else set())


imports.register_hooks("connection", UploadHooks)
