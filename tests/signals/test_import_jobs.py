"""Imports run on a worker in committed batches; every push path reaches insights in one recompute."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from insights.models import PendingRecompute
from productops.core.versions import current
from productops.portfolio.models import Product
from productops.signals import csv_import, imports
from productops.signals.models import ImportJob, ImportStatus, SupportTicket
from tests.connectors.test_webhook import make_connection, post, signed_headers
from tests.workers import celery_worker


def _tickets_csv(n: int, prefix: str = "t") -> bytes:
    rows = [f"{prefix}{i},Export to CSV fails with error {i},2026-03-{1 + i % 28:02d}" for i in range(n)]
    return ("id,subject,opened at\n" + "\n".join(rows) + "\n").encode()


def _queue(tmp_rows: int, product: Product | None = None) -> ImportJob:
    import uuid

    token = uuid.uuid4()
    imports.file_for(token).write_bytes(_tickets_csv(tmp_rows))
    return ImportJob.objects.create(
        token=token, kind="tickets", filename="tickets.csv", product=product, mapping={}
    )


@pytest.mark.django_db
def test_a_killed_import_keeps_its_committed_batches_and_resumes_after_them(monkeypatch: Any) -> None:
    job = _queue(12)
    real_write = csv_import.PreparedImport.write
    calls = {"n": 0}

    def dies_in_the_second_batch(self: csv_import.PreparedImport, start: int, stop: int) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            real_write(self, start, stop)  # written, then the worker dies before the batch commits
            raise SystemExit("worker killed")
        return real_write(self, start, stop)

    monkeypatch.setattr(csv_import.PreparedImport, "write", dies_in_the_second_batch)
    with pytest.raises(SystemExit):
        imports.run_job(job.pk, batch_rows=5)
    job.refresh_from_db()
    # All of batch 1, none of batch 2: the job says exactly what is committed.
    assert (job.status, job.rows_valid, job.rows_done, job.inserted) == (ImportStatus.RUNNING, 12, 5, 5)
    assert SupportTicket.objects.count() == 5

    monkeypatch.setattr(csv_import.PreparedImport, "write", real_write)
    imports.run_job(job.pk, batch_rows=5)  # Celery redelivers the task: it resumes after row 5
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.inserted, job.unchanged) == (ImportStatus.SUCCEEDED, 12, 12, 0)
    assert SupportTicket.objects.count() == 12
    assert not imports.file_for(job.token).exists()
    imports.run_job(job.pk)  # a duplicate delivery of a finished job changes nothing
    assert SupportTicket.objects.count() == 12


@pytest.mark.django_db
def test_a_file_that_is_gone_fails_the_job_with_what_to_do() -> None:
    job = _queue(3)
    imports.file_for(job.token).unlink()
    failed = imports.run_job(job.pk)
    assert (
        failed is not None
        and failed.status == ImportStatus.FAILED
        and "upload it again" in failed.error_message
    )
    assert not failed.resumable


def _wait(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _scored(product: Product, n: int) -> Callable[[], bool]:
    def check() -> bool:
        tickets = SupportTicket.objects.filter(product=product)
        return tickets.count() == n and not tickets.filter(sentiment__isnull=True).exists()

    return check


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_every_push_path_reaches_insights_through_one_recompute_on_a_real_worker(
    lead_client: Client, tmp_path: Path
) -> None:
    with celery_worker(queues="default,insights"):
        # manage.py import_csv
        cli = Product.objects.create(name="Cli", slug="cli")
        path = tmp_path / "tickets.csv"
        path.write_bytes(_tickets_csv(6, "c"))
        version = current()
        call_command("import_csv", str(path), "--kind", "tickets", "--product", "cli", stdout=io.StringIO())
        _wait(_scored(cli, 6), "the import_csv rows to be scored by the recompute")
        assert current() != version

        # the signed webhook
        connection, secret = make_connection("tickets")
        body = json.dumps(
            [
                {"id": f"w{i}", "opened_at": "2026-03-02T10:00:00Z", "subject": f"Login loop {i}"}
                for i in range(4)
            ]
        ).encode()
        version = current()
        assert post(connection, body, signed_headers(secret, body)).status_code == 200
        _wait(_scored(connection.product, 4), "the webhook rows to be scored by the recompute")
        assert current() != version
        connection.refresh_from_db()
        assert connection.last_success_at is not None  # the push touched the connection's health

        # the Import page: the worker imports the file, then recomputes
        page = Product.objects.create(name="Page", slug="page")
        upload = lead_client.post(
            "/data/import/",
            {
                "kind": "tickets",
                "product": page.pk,
                "file": SimpleUploadedFile("t.csv", _tickets_csv(8, "p")),
            },
        )
        done = lead_client.post(
            upload["Location"],
            {"map_external_id": "id", "map_subject": "subject", "map_opened_at": "opened at"},
        )
        assert done.status_code == 302
        _wait(_scored(page, 8), "the Import page's rows to be imported and scored")
        assert ImportJob.objects.get().status == ImportStatus.SUCCEEDED
        assert "Imported t.csv" in lead_client.get(done["Location"]).content.decode()
        _wait(lambda: not PendingRecompute.objects.exists(), "every pending recompute to be taken")
