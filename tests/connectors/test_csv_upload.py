"""The "CSV file" connection kinds: uploads go through csv_import and show up as runs."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from connectors.models import Connection, RunStatus, SyncRun
from productops.signals import imports
from productops.signals.models import ImportJob, SupportTicket

pytestmark = pytest.mark.django_db

TICKETS = (
    "Ticket ID,Subject,Status,Tags,Created at\n"
    'T-1,Export broken,open,"billing,export",2026-03-01 09:00\n'
    "T-2,Login loop,solved,auth,2026-03-02 10:30\n"
    "T-3,Bad date,open,,not a date\n"
)


def upload(client: Client, connection: Connection, body: str, name: str = "tickets.csv") -> str:
    """Upload, then do what the worker does (run the queued job), then open the page the upload led to."""
    response = client.post(
        reverse("connectors:upload", args=[connection.pk]),
        {"file": SimpleUploadedFile(name, body.encode(), content_type="text/csv")},
    )
    assert response.status_code == 302
    job = ImportJob.objects.order_by("-pk").first()
    if job is not None and job.is_active:
        imports.run_job(job.pk)
    return client.get(response["Location"], follow=True).content.decode()


def test_upload_imports_records_a_run_and_dedupes(lead_client: Client) -> None:
    create = reverse("connectors:create", args=["csv_tickets"])
    lead_client.post(create, {"name": "Help desk export", "schedule_kind": "manual", "action": "save"})
    connection = Connection.objects.get(kind="csv_tickets")
    assert (
        "Upload a file"
        in lead_client.get(reverse("connectors:detail", args=[connection.pk])).content.decode()
    )

    html = upload(lead_client, connection, TICKETS)
    run = SyncRun.objects.get(connection=connection)
    assert run.status == RunStatus.SUCCEEDED and run.trigger == "upload"
    assert (run.rows_read, run.rows_inserted) == (3, 2)
    assert "1 of 3 rows were skipped" in run.error_message and "Row 4" in run.error_message
    assert "2 of 2 valid rows committed; 1 row with errors" in html
    tickets = SupportTicket.objects.filter(source_key=connection.source_key, connection=connection)
    assert sorted(tickets.values_list("external_id", flat=True)) == ["T-1", "T-2"]
    assert "sha256" in Connection.objects.get().cursors["file"]

    upload(lead_client, connection, TICKETS)  # the same file again: nothing new
    again = SyncRun.objects.filter(connection=connection).order_by("-pk").first()
    assert again is not None and (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 2)
    assert SupportTicket.objects.count() == 2


def test_an_unusable_file_is_refused_in_the_request_with_a_reason(lead_client: Client) -> None:
    connection = Connection.objects.create(name="NPS export", kind="csv_nps", schedule_kind="manual")
    html = upload(lead_client, connection, "just one line without the columns\n", name="nps.csv")
    assert "nps.csv: The file has no column for the required field(s)" in html
    assert not SyncRun.objects.exists() and not ImportJob.objects.exists()


def test_pm_cannot_upload(pm_client: Client) -> None:
    connection = Connection.objects.create(name="NPS export", kind="csv_nps", schedule_kind="manual")
    response = pm_client.post(
        reverse("connectors:upload", args=[connection.pk]),
        {"file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n")},
    )
    assert response.status_code == 403 and not SyncRun.objects.exists()
