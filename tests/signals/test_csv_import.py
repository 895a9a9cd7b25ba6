"""CSV import: a deliberately broken file, encodings, dates, idempotent re-upload and formula escaping."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.test import override_settings

from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.csv_import import (
    CsvImportError,
    auto_map,
    escape_cell,
    import_csv,
    save_mapping,
    suggest_mapping,
)
from productops.signals.models import Metric, MetricPoint, NpsResponse, SupportTicket
from productops.signals.pii import respondent_hash

BROKEN_NPS = (
    "Response ID,How likely are you to recommend us?,Date,Comment,Email,Plan\n"
    "r1,9,2026-01-05,Great app,ann@example.com,pro\n"  # row 2: fine
    "r2,11,2026-01-05,Too slow,bob@example.com,free\n"  # row 3: score out of range
    "r3,7,31/02/2026,ok,,\n"  # row 4: no 31 February
    "r4,,2026-01-07,meh,,\n"  # row 5: score missing
    "r5,8.5,yesterday,hmm,not-an-email,pro\n"  # row 6: three problems
    "r6,10,05/01/2026,Love it,,team\n"  # row 7: fine (day-first)
)
NPS_MAPPING = {
    "external_id": "Response ID",
    "score": "How likely are you to recommend us?",
    "submitted_at": "Date",
    "comment": "Comment",
    "email": "Email",
    "plan": "Plan",
}


@pytest.mark.django_db
def test_broken_file_reports_each_bad_cell_and_imports_the_rest() -> None:
    report = import_csv(BROKEN_NPS.encode(), "nps", mapping=NPS_MAPPING)
    assert [str(e) for e in report.errors] == [
        "Row 3, column 'How likely are you to recommend us?': '11' is not a whole number from 0 to 10.",
        "Row 4, column 'Date': '31/02/2026' is not a date (use YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY).",
        "Row 5, column 'How likely are you to recommend us?': a value is required.",
        "Row 6, column 'How likely are you to recommend us?': '8.5' is not a whole number from 0 to 10.",
        "Row 6, column 'Date': 'yesterday' is not a date (use YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY).",
        "Row 6, column 'Email': the value is not an e-mail address.",
    ]
    assert (report.rows, report.inserted, report.updated, report.unchanged, report.bad_rows) == (
        6,
        2,
        0,
        0,
        4,
    )
    stored = {r.external_id: r for r in NpsResponse.objects.all()}
    assert set(stored) == {"r1", "r6"}
    assert stored["r6"].submitted_at == datetime(2026, 1, 5, tzinfo=UTC)
    assert stored["r1"].segment == {"plan": "pro"}
    # The address is never stored, only its keyed hash.
    assert stored["r1"].respondent_hash == respondent_hash("Ann@Example.com ")
    assert "ann@example.com" not in str(NpsResponse.objects.values().get(external_id="r1"))

    bad = list(csv.reader(io.StringIO(report.bad_rows_csv.decode("utf-8-sig"))))
    assert bad[0] == ["row", *NPS_MAPPING.values(), "errors"]
    assert [r[0] for r in bad[1:]] == ["3", "4", "5", "6"]
    assert bad[4][-1] == (
        "Column 'How likely are you to recommend us?': '8.5' is not a whole number from 0 to 10.; "
        "Column 'Date': 'yesterday' is not a date (use YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY).; "
        "Column 'Email': the value is not an e-mail address."
    )


@pytest.mark.django_db
def test_missing_required_columns_are_named() -> None:
    data = b"Response ID,Comment\nr1,hello\n"
    with pytest.raises(CsvImportError) as exc:
        import_csv(data, "nps", mapping=None)
    assert exc.value.message == (
        "The file has no column for the required field(s): Score (0-10), Submitted at. "
        "Add the column(s) to the file, or map an existing column to each on the mapping step."
    )


@pytest.mark.django_db
def test_mapping_to_a_column_the_file_lacks_is_refused() -> None:
    with pytest.raises(CsvImportError, match=r"^The mapping uses column\(s\) the file doesn't have: Nope\.$"):
        import_csv(b"Score,Date\n1,2026-01-01\n", "nps", mapping={"score": "Nope", "submitted_at": "Date"})


def test_wrong_encoding_utf16_without_bom_is_refused() -> None:
    data = "Score,Date\n9,2026-01-05\n".encode("utf-16-le")
    with pytest.raises(CsvImportError) as exc:
        import_csv(data, "nps")
    assert exc.value.message == (
        "The file is not a text CSV: it contains NUL bytes (it may be UTF-16 without a byte-order mark, "
        'or an Excel workbook). Save it as "CSV UTF-8" and upload it again.'
    )


def test_bytes_that_are_neither_utf8_nor_latin1_are_refused_with_the_line() -> None:
    data = b"Score,Date,Comment\n9,2026-01-05,ok\n8,2026-01-06,bad \x81 byte\n"
    with pytest.raises(CsvImportError) as exc:
        import_csv(data, "nps")
    assert exc.value.message == (
        "The file can't be read as text: it is neither UTF-8 nor Latin-1 (byte 0x81 on line 3). "
        'Save it as "CSV UTF-8" and upload it again.'
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "label"),
    [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (with BOM)"), ("cp1252", "Latin-1 (Windows-1252)")],
)
def test_utf8_with_and_without_bom_and_latin1(encoding: str, label: str) -> None:
    text = "Score;Date;Comment\n9;2026-01-05;Zoë loves the “café” view\n"  # semicolons, as European Excel
    report = import_csv(text.encode(encoding), "nps")
    assert (report.encoding, report.inserted, report.errors) == (label, 1, [])
    assert NpsResponse.objects.get().comment == "Zoë loves the “café” view"


@pytest.mark.django_db
def test_common_date_formats_parse_consistently_per_column() -> None:
    rows = [
        ("a", "2026-01-31"),
        ("b", "2026-01-31T09:30:00+02:00"),
        ("c", "31 Jan 2026"),
    ]
    text = "Subject,Created\n" + "".join(f"{s},{d}\n" for s, d in rows)
    import_csv(text.encode(), "tickets")
    got = dict(SupportTicket.objects.values_list("subject", "opened_at"))
    assert got["a"] == datetime(2026, 1, 31, tzinfo=UTC)
    assert got["b"] == datetime(2026, 1, 31, 7, 30, tzinfo=UTC)
    assert got["c"] == datetime(2026, 1, 31, tzinfo=UTC)
    # US month-first dates are read as such when the column can only be month-first.
    import_csv(b"Subject,Created\nd,01/31/2026\ne,02/01/2026\n", "tickets")
    assert SupportTicket.objects.get(subject="e").opened_at == datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_uploading_the_same_file_twice_duplicates_nothing() -> None:
    text = (
        b"Subject,Body,Created,Tags,CSAT,Status\n"
        b'Export fails,It spins,2026-01-05 10:00,"billing, export",good,Resolved\n'
        b"Login loop,SSO again,2026-01-06 11:00,login,2,open\n"
    )
    first = import_csv(text, "tickets")
    second = import_csv(text, "tickets")
    assert (first.inserted, first.unchanged) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    assert SupportTicket.objects.count() == 2
    ticket = SupportTicket.objects.get(subject="Export fails")
    assert (ticket.tags, ticket.csat_rating, ticket.status, ticket.source_key) == (
        ["billing", "export"],
        5,
        "solved",
        "manual",
    )
    assert ticket.external_id.startswith("csv:")


@pytest.mark.django_db
def test_id_column_is_the_external_id_and_a_changed_row_updates() -> None:
    import_csv(b"Ticket ID,Subject,Created\nZ-1,Old,2026-01-05\n", "tickets")
    report = import_csv(b"Ticket ID,Subject,Created\nZ-1,New,2026-01-05\n", "tickets")
    assert (report.inserted, report.updated) == (0, 1)
    assert SupportTicket.objects.get(external_id="Z-1").subject == "New"


def test_formula_cells_are_escaped_in_the_bad_rows_download() -> None:
    assert [escape_cell(v) for v in ["=1+2", "+SUM(A1)", "-2", "@cmd", "plain", ""]] == [
        "'=1+2",
        "'+SUM(A1)",
        "'-2",
        "'@cmd",
        "plain",
        "",
    ]


@pytest.mark.django_db
def test_bad_rows_csv_never_echoes_a_formula_unescaped() -> None:
    text = b'Score,Date,Comment\n=cmd|\' /C calc\'!A0,2026-01-05,"@SUM(1+1)"\n-3,+2026,=HYPERLINK("x")\n'
    report = import_csv(text, "nps")
    assert report.inserted == 0 and report.bad_rows == 2
    bad = list(csv.reader(io.StringIO(report.bad_rows_csv.decode("utf-8-sig"))))
    assert bad[1][1:4] == ["'=cmd|' /C calc'!A0", "2026-01-05", "'@SUM(1+1)"]
    assert bad[2][1:4] == ["'-3", "'+2026", '\'=HYPERLINK("x")']
    for row in bad:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


@override_settings(CSV_IMPORT_MAX_BYTES=100)
def test_size_limit_has_a_clear_message() -> None:
    with pytest.raises(CsvImportError) as exc:
        import_csv(b"Score,Date\n" + b"9,2026-01-05\n" * 20, "nps")
    assert exc.value.message == (
        "The file is 0.0 MB; the limit is 0.0 MB. Split it into smaller files "
        "(or raise CSV_IMPORT_MAX_BYTES) and upload each."
    )


@pytest.mark.django_db
def test_metric_points_create_the_metric_and_reupload_is_unchanged() -> None:
    product = Product.objects.create(name="Atlas", slug="atlas")
    text = (
        b"Metric,Date,Value,Dimension,Dimension value\ndau,2026-01-05,120,,\ndau,2026-01-05,80,platform,ios\n"
    )
    first = import_csv(text, "metric_points", product_id=product.pk)
    second = import_csv(text, "metric_points", product_id=product.pk)
    assert (first.inserted, second.unchanged) == (2, 2)
    metric = Metric.objects.get(product=product, key="dau")
    assert sorted(MetricPoint.objects.filter(metric=metric).values_list("dimension_value", "value")) == [
        ("", 120.0),
        ("ios", 80.0),
    ]


@pytest.mark.django_db
def test_portfolio_items_resolve_teams_and_report_unknown_ones() -> None:
    Team.objects.create(name="Payments", slug="payments")
    text = (
        b"Key,Summary,Issue Type,Team,Status,Due date,Labels\n"
        b"PAY-1,Faster checkout,Epic,payments,In Progress,2026-03-31,checkout;speed\n"
        b"PAY-2,Refund flow,Story,Nobody,To Do,,\n"
    )
    report = import_csv(text, "portfolio_items")
    assert [str(e) for e in report.errors] == [
        "Row 3, column 'Team': there is no team 'Nobody'; create it or leave blank."
    ]
    item = PortfolioItem.objects.get(external_id="PAY-1")
    assert (item.kind, item.team.slug, item.status_category, item.target_date, item.labels) == (
        "epic",
        "payments",
        "in_progress",
        date(2026, 3, 31),
        ["checkout", "speed"],
    )


def test_auto_map_ignores_case_spaces_and_punctuation() -> None:
    headers = ["  NPS Score ", "SUBMITTED_AT", "e-mail", "Other"]
    assert auto_map(headers, "nps") == {
        "score": "  NPS Score ",
        "submitted_at": "SUBMITTED_AT",
        "email": "e-mail",
    }


@pytest.mark.django_db
def test_a_saved_mapping_is_suggested_next_time() -> None:
    headers = ["Q1", "When", "Score"]
    save_mapping("nps", {"score": "Q1", "submitted_at": "When"})
    assert suggest_mapping(headers, "nps") == {"score": "Q1", "submitted_at": "When"}
    # A saved column the new file lacks falls back to the synonyms.
    assert suggest_mapping(["Score", "Date"], "nps") == {"score": "Score", "submitted_at": "Date"}


@pytest.mark.django_db
def test_ticket_html_bodies_get_a_plain_text_copy() -> None:
    import_csv(b'Subject,Body,Created\nHi,"<p>It <b>spins</b>\nforever</p>",2026-01-05\n', "tickets")
    ticket = SupportTicket.objects.get()
    assert (ticket.body, ticket.body_text) == ("<p>It <b>spins</b>\nforever</p>", "It spins forever")
