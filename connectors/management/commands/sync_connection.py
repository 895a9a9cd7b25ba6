"""Run one connection's sync in the foreground, with a progress line per page."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.models import Connection, SyncRun
from connectors.sync import run_sync


class Command(BaseCommand):
    help = "Sync one connection now, in the foreground (by id or name). Transient errors are retried here."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection", help="The connection's id or exact name.")
        parser.add_argument(
            "--full", action="store_true", help="Ignore saved cursors and re-read everything."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["connection"]
        connection = Connection.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        connection = connection or Connection.objects.filter(name=ref).first()
        if connection is None:
            names = ", ".join(Connection.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"No connection {ref!r}. Connections: {names}.")
        started = time.monotonic()

        def progress(run: SyncRun, stream: str) -> None:
            rate = run.rows_read / max(time.monotonic() - started, 1e-6)
            self.stdout.write(
                f"\r[{stream}] pages {run.pages:>5}  rows {run.rows_read:>9,}  new {run.rows_inserted:>8,}  "
                f"changed {run.rows_updated:>8,}  unchanged {run.rows_unchanged:>8,}  ({rate:,.0f} rows/s)",
                ending="",
            )
            self.stdout.flush()

        full = options["full"]
        while True:
            result = run_sync(connection.pk, trigger="cli", full=full, progress=progress)
            self.stdout.write("")
            if result.outcome == "retry":
                self.stdout.write(self.style.WARNING(f"{result.message} Retrying in {result.retry_in:.0f}s…"))
                time.sleep(result.retry_in or 0)
                full = False  # the run keeps its full_refresh flag; its committed cursor is the resume point
                continue
            break
        run = result.run
        if result.outcome == "succeeded" and run is not None:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Run {run.pk} succeeded: {run.pages} pages, {run.rows_read} rows read, "
                    f"{run.rows_inserted} new, {run.rows_updated} changed, {run.rows_unchanged} unchanged."
                )
            )
            return
        raise CommandError(result.message or (run.error_message if run else "The sync did not run."))
