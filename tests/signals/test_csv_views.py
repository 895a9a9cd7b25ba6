"""The lead's upload -> mapping -> result pages, the bad-rows download, and `manage.py import_csv`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from productops.signals.imports import run_job
from productops.signals.models import CsvMapping, ImportJob, NpsResponse, SupportTicket

NPS = (
    b"Response ID,How likely,When,Comment\n"
    b"r1,9,2026-01-05,Great\n"
    b'r2,11,2026-01-05,=HYPERLINK("http://evil")\n'
    b"r3,7,not a date,ok\n"
)


@pytest.fixture(autouse=True)
def _var_dir(tmp_path: Path) -> Any:
    with override_settings(VAR_DIR=tmp_path):
        yield


def _upload(client: Client, data: bytes, kind: str = "nps", name: str = "survey.csv") -> Any:
    return client.post("/data/import/", {"kind": kind, "file": SimpleUploadedFile(name, data, "text/csv")})


@pytest.mark.django_db
def test_upload_map_import_and_download_the_bad_rows(lead_client: Client) -> None:
    response = _upload(lead_client, NPS)
    assert response.status_code == 302
    map_url = response["Location"]
    page = lead_client.get(map_url)
    assert page.status_code == 200
    assert b"3 rows" in page.content
    # "How likely" and "When" aren't synonyms: the lead maps them on this step.
    form = page.context["form"]
    assert form["map_external_id"].value() == "Response ID"
    assert form["map_score"].value() == ""
    refused = lead_client.post(map_url, {"map_external_id": "Response ID", "map_comment": "Comment"})
    assert refused.status_code == 200
    assert "Pick the column that holds score (0-10)." in refused.content.decode()

    done = lead_client.post(
        map_url,
        {
            "map_external_id": "Response ID",
            "map_score": "How likely",
            "map_submitted_at": "When",
            "map_comment": "Comment",
            "save_mapping": "on",
        },
    )
    assert done.status_code == 302 and done["Location"].endswith("/result/")
    waiting = lead_client.get(done["Location"]).content.decode()
    assert "Waiting for a worker" in waiting and 'http-equiv="refresh"' in waiting
    assert not NpsResponse.objects.exists()  # the request only queued the import
    job = ImportJob.objects.get()
    run_job(job.pk)  # what the worker's task does (tests/signals/test_import_jobs.py runs a real worker)
    result = lead_client.get(done["Location"])
    html = result.content.decode()
    assert 'http-equiv="refresh"' not in html
    assert "&#x27;11&#x27; is not a whole number from 0 to 10." in html
    assert "&#x27;not a date&#x27; is not a date (use YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY)." in html
    assert result.context["job"].inserted == 1
    assert list(NpsResponse.objects.values_list("external_id", flat=True)) == ["r1"]
    assert CsvMapping.objects.get(kind="nps").mapping["score"] == "How likely"

    download = lead_client.get(done["Location"].replace("/result/", "/bad-rows.csv"))
    assert download["Content-Disposition"] == 'attachment; filename="survey-bad-rows.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[1][:5] == ["3", "r2", "11", "2026-01-05", '\'=HYPERLINK("http://evil")']

    # Next time the saved mapping is offered.
    again = lead_client.get(_upload(lead_client, NPS)["Location"])
    assert again.context["form"]["map_score"].value() == "How likely"


@pytest.mark.django_db
def test_a_pm_cannot_import(pm_client: Client) -> None:
    assert pm_client.get("/data/import/").status_code == 403
    assert _upload(pm_client, NPS).status_code == 403


@pytest.mark.django_db
def test_an_upload_is_private_to_its_session(lead_client: Client, lead_user: Any) -> None:
    map_url = _upload(lead_client, NPS)["Location"]
    other = Client()
    other.force_login(lead_user)
    assert other.get(map_url).status_code == 404


@pytest.mark.django_db
@override_settings(CSV_IMPORT_MAX_BYTES=1024 * 1024)
def test_too_big_and_unreadable_files_are_refused_on_the_upload_page(lead_client: Client) -> None:
    big = _upload(lead_client, b"Score,Date\n" + b"9,2026-01-05\n" * 90000)
    assert big.status_code == 200
    assert (
        "The file is 1.1 MB; the limit is 1.0 MB. Split it into smaller files "
        "(or raise CSV_IMPORT_MAX_BYTES) and upload each." in big.content.decode()
    )
    wrong = _upload(lead_client, "Score,Date\n9,2026-01-05\n".encode("utf-16-le"))
    assert "it contains NUL bytes" in wrong.content.decode()


@pytest.mark.django_db
def test_import_csv_command_is_idempotent_and_writes_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(b"Subject,Opened,CSAT\nExport fails,2026-01-05,5\nBad one,2026-01-06,9\n")
    out = io.StringIO()
    err = io.StringIO()
    call_command(
        "import_csv", str(path), "--kind", "tickets", "--mapping", '{"opened_at": "Opened"}',
        "--bad-rows", str(tmp_path / "bad.csv"), stdout=out, stderr=err,
    )  # fmt: skip
    assert "2 rows; inserted 1, updated 0, unchanged 0, with errors 1." in out.getvalue()
    assert (
        err.getvalue().strip() == "Row 3, column 'CSAT': '9' is not a whole number from 1 to 5 (or good/bad)."
    )
    assert "'9' is not a whole number" in (tmp_path / "bad.csv").read_text(encoding="utf-8-sig")
    call_command(
        "import_csv", str(path), "--kind", "tickets", "--mapping", '{"opened_at": "Opened"}', stdout=out
    )
    assert "inserted 0, updated 0, unchanged 1" in out.getvalue()
    assert SupportTicket.objects.count() == 1


@pytest.mark.django_db
def test_import_csv_command_explains_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"Subject\nHello\n")
    with pytest.raises(CommandError, match=r"no column for the required field\(s\): Opened at\."):
        call_command("import_csv", str(path), "--kind", "tickets")
