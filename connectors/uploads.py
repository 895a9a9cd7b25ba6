"""An uploaded CSV file, imported as a sync run of a "CSV file" connection.

The run's lifecycle is connectors.sync's (start_run / succeed_run / fail_run, under the connection's
lock); the import is productops.signals.csv_import's; the post-write step is record_write's.
"""

from __future__ import annotations

import hashlib
import logging

from django.db import transaction

from productops.signals.csv_import import CsvImportError, import_csv
from productops.signals.ingest import UpsertResult
from productops.signals.services import record_write

from .base import REGISTRY, ConnectorError
from .locks import lock_for
from .models import Connection, SyncRun
from .sync import fail_run, start_run, succeed_run

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
        run = start_run(connection, trigger="upload")
        if run is None:
            raise ConnectorError("A sync of this connection is queued; upload again once it has run.")
        digest = hashlib.sha256(data).hexdigest()
        try:
            with transaction.atomic():
                report = import_csv(
                    data,
                    import_kind,
                    source_key=connection.source_key,
                    connection_id=connection.pk,
                    product_id=connection.product_id,
                )
                message = ""
                if report.bad_rows:
                    shown = "; ".join(str(e) for e in report.errors[:SHOWN_ERRORS])
                    more = len(report.errors) - SHOWN_ERRORS
                    message = (
                        f"{report.bad_rows} of {report.rows} rows were skipped: {shown}"
                        + (f"; and {more} more." if more > 0 else ".")
                        + " Fix them and upload the file again; rows already imported won't duplicate."
                    )
                after = {**(connection.cursors or {}), "file": {"name": filename[:200], "sha256": digest}}
                succeed_run(
                    connection,
                    run,
                    UpsertResult(report.inserted, report.updated, report.unchanged),
                    rows_read=report.rows,
                    cursor_after=after,
                    message=message,
                )
                if report.inserted or report.updated:
                    record_write(
                        connection.source_key,
                        report.scope.families,
                        report.scope.product_ids,
                        report.scope.since,
                        metric_ids=report.scope.metric_ids,
                        connection_id=connection.pk,
                    )
        except CsvImportError as exc:
            fail_run(connection, run, f"{filename}: {exc.message}")
            run.refresh_from_db()
        log.info(
            "connection %s: upload %s imported as run %s (%s)", connection.pk, digest[:12], run.pk, run.status
        )
        return run
    finally:
        lock.release()
