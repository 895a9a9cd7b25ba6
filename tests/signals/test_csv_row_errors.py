"""Bad cells become row errors (never a 500, never a stored typo), and no metric point is dropped silently."""

from __future__ import annotations

import time

import pytest

from connectors.family_schemas import RecordError, coerce_record
from productops.portfolio.models import Product
from productops.signals.csv_import import CsvImportError, import_csv, suggest_mapping
from productops.signals.models import MetricPoint, SupportTicket

pytestmark = pytest.mark.django_db


def _tickets(rows: list[str]) -> bytes:
    return ("id,subject,opened at,priority\n" + "\n".join(rows) + "\n").encode()


def test_a_ticket_dated_9999_is_refused_with_a_row_error_and_not_stored() -> None:
    report = import_csv(
        _tickets(["t1,fine,2026-03-01,high", "t2,typo,9999-12-28,high", "t3,old,1970-01-01,low"]), "tickets"
    )
    assert (report.inserted, report.bad_rows) == (1, 2)
    by_row = {e.row: e for e in report.errors}
    assert by_row[3].column == "opened at" and "outside the plausible range 1990-01-01" in by_row[3].message
    assert "9999-12-28" in by_row[3].message
    assert "outside the plausible range" in by_row[4].message
    assert list(SupportTicket.objects.values_list("external_id", flat=True)) == ["t1"]


def test_values_longer_than_their_column_are_row_errors() -> None:
    report = import_csv(
        _tickets(
            [
                "ok,fine,2026-03-01,high",
                "p,fine,2026-03-01," + "x" * 17,  # priority is 16 characters at most
                "s," + "y" * 501 + ",2026-03-01,low",  # subject: 500
                "i" * 256 + ",fine,2026-03-01,low",  # id: 255
            ]
        ),
        "tickets",
    )
    assert (report.inserted, report.bad_rows) == (1, 3)
    messages = {(e.row, e.column): e.message for e in report.errors}
    assert "17 characters long; at most 16" in messages[(3, "priority")]
    assert "501 characters long; at most 500" in messages[(4, "subject")]
    assert "256 characters long; at most 255" in messages[(5, "id")]


def test_a_nul_after_the_first_4_kib_is_a_row_error() -> None:
    rows = [f"t{i},subject {i} {'z' * 40},2026-03-01,low" for i in range(120)]
    rows.append("bad,has a \x00 inside,2026-03-01,low")
    data = _tickets(rows)
    assert data.index(b"\x00") > 4096
    report = import_csv(data, "tickets")
    assert (report.inserted, report.bad_rows) == (120, 1)
    assert "NUL character" in report.errors[0].message and report.errors[0].column == "subject"


def test_a_ten_thousand_column_file_is_refused_quickly() -> None:
    header = ",".join(f"c{i}" for i in range(10_000))
    data = (header + "\n" + ",".join("1" for _ in range(10_000)) + "\n").encode()
    started = time.monotonic()
    with pytest.raises(CsvImportError, match="10000 columns; an import takes at most 500"):
        import_csv(data, "tickets")
    assert time.monotonic() - started < 1.0


METRICS_BY_PLATFORM = (
    "metric,date,value,platform\n"
    "signups,2026-03-01,10,web\n"
    "signups,2026-03-01,4,ios\n"
    "signups,2026-03-02,11,web\n"
    "signups,2026-03-02,5,ios\n"
    "signups,2026-03-03,12,web\n"
    "signups,2026-03-03,6,ios\n"
    "signups,2026-03-04,13,web\n"
    "signups,2026-03-04,7,ios\n"
)


def test_an_extra_column_in_a_metrics_file_becomes_its_dimension() -> None:
    product = Product.objects.create(name="Atlas", slug="atlas")
    headers = ["metric", "date", "value", "platform"]
    assert suggest_mapping(headers, "metric_points")["dimension_value"] == "platform"  # the preview shows it
    report = import_csv(METRICS_BY_PLATFORM.encode(), "metric_points", product_id=product.pk)
    assert (report.rows, report.inserted, report.bad_rows) == (8, 8, 0)
    stored = set(MetricPoint.objects.values_list("dimension_key", "dimension_value", "value"))
    assert ("platform", "ios", 4.0) in stored and ("platform", "web", 13.0) in stored and len(stored) == 8


def test_rows_a_metrics_file_can_not_tell_apart_fail_the_import_and_store_nothing() -> None:
    data = b"metric,date,value,platform,country\nsignups,2026-03-01,10,web,fr\nsignups,2026-03-01,4,ios,fr\n"
    with pytest.raises(CsvImportError, match=r"Rows 2, 3 are the same metric.*'platform', 'country'"):
        import_csv(data, "metric_points")
    assert not MetricPoint.objects.exists()


def test_pushed_json_with_an_implausible_date_is_refused() -> None:
    with pytest.raises(RecordError, match="opened_at: is outside the plausible range"):
        coerce_record("tickets", {"id": "t1", "opened_at": "9999-12-28T00:00:00Z"})
    with pytest.raises(RecordError, match="opened_at: is outside the plausible range"):
        coerce_record("tickets", {"id": "t1", "opened_at": 1e300})
    with pytest.raises(RecordError, match="priority: is longer than 16"):
        coerce_record("tickets", {"id": "t1", "opened_at": "2026-01-01", "priority": "p" * 17})
    assert (
        coerce_record("tickets", {"id": "t1", "opened_at": "2026-01-01", "status": "Open"})["status"]
        == "open"
    )


def test_a_pulled_record_with_an_implausible_date_is_skipped_and_named_not_stored() -> None:
    from datetime import UTC, datetime

    from connectors.base import Page, Record
    from connectors.models import Connection
    from connectors.sync import skipped_message, write_page

    connection = Connection.objects.create(name="desk", kind="zendesk_tickets_test")
    page = Page(
        records=[
            Record(
                "signals.SupportTicket", "ok", {"opened_at": datetime(2026, 3, 1, tzinfo=UTC), "subject": "a"}
            ),
            Record(
                "signals.SupportTicket",
                "typo",
                {"opened_at": datetime(9999, 12, 28, tzinfo=UTC), "subject": "b"},
            ),
            Record(
                "signals.Metric",
                "m",
                {"key": "signups", "name": "Sign-ups"},
                [
                    (
                        "signals.MetricPoint",
                        [
                            {
                                "ts": datetime(2026, 3, 1, tzinfo=UTC),
                                "value": 1.0,
                                "dimension_key": "",
                                "dimension_value": "",
                            },
                            {
                                "ts": datetime(1970, 1, 1, tzinfo=UTC),
                                "value": 2.0,
                                "dimension_key": "",
                                "dimension_value": "",
                            },
                        ],
                        "metric_id",
                    )
                ],
            ),
        ],
        cursor=None,
    )
    wrote = write_page(connection, page)
    assert list(SupportTicket.objects.values_list("external_id", flat=True)) == ["ok"]
    assert list(MetricPoint.objects.values_list("value", flat=True)) == [1.0]
    assert wrote.rows_read == 5 and len(wrote.skipped) == 2
    message = skipped_message(wrote.skipped)
    assert "SupportTicket typo: opened_at 9999-12-28 is outside the plausible range" in message
    assert "MetricPoint of m: ts 1970-01-01" in message
