"""An uploaded CSV file, imported as a sync run of a "CSV file" connection."""

from __future__ import annotations

import hashlib
import logging
import traceback

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from productops.signals.csv_import import CsvImportError, import_csv

from .base import REGISTRY, ConnectorError
from .locks import lock_for
from .models import Connection, RunStatus, SyncRun
from .sync import _enqueue_recompute, queue_run

log = logging.getLogger(__name__)
SHOWN_ERRORS = 10


def import_upload(connection: Connection, data: bytes, filename: str) -> SyncRun:
    """Import one file for the connection and record it as a run (succeeded, or failed with why)."""
    cls = REGISTRY.get(connection.kind)
    import_kind = getattr(cls, "import_kind", None)
    if import_kind is None:
        raise ConnectorError(f"“{connection.name}” doesn't take file uploads.", permanent=True)
    lock = lock_for(connection.pk)
    if not lock.acquire():
        raise ConnectorError("This connection is busy with another import or sync; upload again in a moment.")
    try:
        run = queue_run(connection, trigger="upload")
        if run is None:
            raise ConnectorError("A sync of this connection is queued; upload again once it has run.")
        digest = hashlib.sha256(data).hexdigest()
        before = dict(connection.cursors or {})
        run.status, run.started_at, run.heartbeat_at = RunStatus.RUNNING, timezone.now(), timezone.now()
        run.attempts, run.cursor_before = 1, before
        run.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "cursor_before"])
        try:
            with transaction.atomic():
                report = import_csv(
                    data,
                    import_kind,
                    source_key=connection.source_key,
                    connection_id=connection.pk,
                    product_id=connection.product_id,
                )
                after = {**before, "file": {"name": filename[:200], "sha256": digest}}
                run.rows_read = report.rows
                run.rows_inserted, run.rows_updated, run.rows_unchanged = (
                    report.inserted,
                    report.updated,
                    report.unchanged,
                )
                run.pages, run.cursor_after = 1, after
                run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
                if report.bad_rows:
                    shown = "; ".join(str(e) for e in report.errors[:SHOWN_ERRORS])
                    more = len(report.errors) - SHOWN_ERRORS
                    run.error_message = (
                        f"{report.bad_rows} of {report.rows} rows were skipped: {shown}"
                        + (f"; and {more} more." if more > 0 else ".")
                        + " Fix them and upload the file again; rows already imported won't duplicate."
                    )
                run.save()
                Connection.objects.filter(pk=connection.pk).update(
                    cursors=after,
                    last_success_at=run.finished_at,
                    error_streak=0,
                    last_error="",
                    rows_synced=F("rows_synced") + report.inserted + report.updated,
                )
                if report.inserted or report.updated:
                    _enqueue_recompute(connection, [])
        except CsvImportError as exc:
            run.status, run.finished_at = RunStatus.FAILED, timezone.now()
            run.error_message = f"{filename}: {exc.message}"
            run.traceback = traceback.format_exc()
            run.save(update_fields=["status", "finished_at", "error_message", "traceback"])
        log.info(
            "connection %s: upload %s imported as run %s (%s)", connection.pk, digest[:12], run.pk, run.status
        )
        return run
    finally:
        lock.release()
