"""Delighted connector: survey_responses with page and updated_since, replayed from vendor-shaped fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.sources.delighted import DelightedConnector
from productops.dashboards.selectors import nps_summary
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import NpsResponse
from productops.signals.pii import respondent_hash

from .signal_helpers import connection, load, product, query, sync, window

URL = "https://api.delighted.com/v1/survey_responses.json"
METRICS = "https://api.delighted.com/v1/metrics.json"
KEY = "dlt-0123456789abcdef"
AUTH = "Basic ZGx0LTAxMjM0NTY3ODlhYmNkZWY6"  # base64("dlt-0123456789abcdef:")
START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
CONFIG = {
    "start_date": "2026-03-01",
    "segment_properties": "Plan, Country",
    "product_property": "Product",
    "product_map": {"billing": "billing-app", "mobile": "mobile-app"},
}


@pytest.fixture(autouse=True)
def setup(fake_dns: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns.records["api.delighted.com"] = ["52.1.2.3"]
    monkeypatch.setattr(DelightedConnector, "per_page", 2)  # three small pages from the fixtures


def serve(page: int, since: int, body: Any) -> None:
    params = {
        "per_page": "2",
        "page": str(page),
        "updated_since": str(since),
        "order": "asc:updated_at",
        "expand[]": "person",
    }
    responses.get(
        URL,
        json=body,
        match=[matchers.query_param_matcher(params), matchers.header_matcher({"Authorization": AUTH})],
    )


def rows(conn: Any) -> dict[str, NpsResponse]:
    return {r.external_id: r for r in NpsResponse.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_full_sync_then_only_changes_then_idempotent_through_sync_connection() -> None:
    billing, mobile = product("billing-app"), product("mobile-app")
    conn = connection("delighted", CONFIG, {"api_key": KEY})
    for n in (1, 2, 3):
        serve(n, START, load("delighted", f"survey_responses_expanded_page{n}.json"))

    sync(conn)

    got = rows(conn)
    assert sorted(got) == ["2001", "2002", "2003", "2004", "2005"]
    first = got["2001"]
    assert (first.score, first.comment, first.segment) == (
        9,
        "Fast and clear",
        {"Plan": "Pro", "Country": "DE"},
    )
    assert first.submitted_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert first.respondent_hash == respondent_hash("ana@example.com") and "ana" not in first.respondent_hash
    assert first.product_id == billing.pk and got["2002"].product_id == mobile.pk
    assert got["2003"].product_id is None  # no Product property, no connection product
    assert got["2004"].comment == ""  # null at Delighted
    newest = 1772460000
    assert conn.cursors == {"survey_responses": {"updated_since": newest}}

    # Second sync: only what changed since the newest change seen; 2002 was edited, 2006 is new.
    serve(1, newest, load("delighted", "survey_responses_expanded_updated.json"))
    serve(2, newest, load("delighted", "survey_responses_empty_page.json"))
    sync(conn)
    assert [query(c)["updated_since"] for c in responses.calls[-2:]] == [str(newest)] * 2
    got = rows(conn)
    assert (got["2002"].score, got["2002"].comment) == (6, "Export works now, but slow")
    assert got["2006"].product_id == billing.pk and len(got) == 6
    newer = 1772539200
    assert conn.cursors == {"survey_responses": {"updated_since": newer}}

    # Third sync over the same answer: nothing new is written.
    serve(1, newer, load("delighted", "survey_responses_expanded_updated.json")[1:])
    sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert run is not None and (run.rows_inserted, run.rows_updated, run.rows_unchanged) == (0, 0, 1)

    # The dashboards: NPS over March 2026 and the detractors in the responses table.
    summary = nps_summary(window(date(2026, 3, 1), date(2026, 3, 31)))
    assert summary["responses"] == 6
    assert summary["nps"] == pytest.approx(100 * (2 - 2) / 6)  # promoters 9,10; detractors 0,6
    table = table_queryset(
        TABLES["nps"], window(date(2026, 3, 1), date(2026, 3, 31)), {"score": "detractors"}
    )
    assert sorted(r[1] for r in table) == [0, 6]


def reader(sleeps: list[float], key: str = KEY) -> DelightedConnector:
    client = HttpClient(sleep=sleeps.append, rand=lambda: 0.5, retry=RetryPolicy(max_attempts=3))
    return DelightedConnector({**CONFIG, "product_map": {}}, {"api_key": key}, client=client)


@responses.activate
def test_429_honours_retry_after_and_5xx_is_retried() -> None:
    responses.get(
        URL, status=429, headers={"Retry-After": "12"}, json={"status": 429, "message": "Too Many Requests"}
    )
    responses.get(URL, json=load("delighted", "survey_responses_expanded_page1.json"))
    responses.get(URL, status=502, body="<html>Bad Gateway</html>")
    responses.get(URL, json=load("delighted", "survey_responses_expanded_page3.json"))
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("survey_responses", None))
    assert sleeps == [12.0, 0.5]
    assert [len(p.records) for p in pages] == [2, 1]
    assert [query(c)["page"] for c in responses.calls] == ["1", "1", "2", "2"]


@responses.activate
def test_bad_key_is_permanent() -> None:
    responses.get(METRICS, status=401, json=load("delighted", "error_401.json"))
    responses.get(URL, status=401, json=load("delighted", "error_401.json"))
    connector = reader([], key="wrong-key-123")
    result = connector.check()
    assert not result.ok and "Check the API token" in result.message
    with pytest.raises(ConnectorError) as info:
        list(connector.read("survey_responses", None))
    assert info.value.permanent


@responses.activate
def test_check_reports_the_nps() -> None:
    responses.get(METRICS, json=load("delighted", "metrics.json"))
    assert reader([]).check().message == "Connected: Delighted reports NPS 20 over the last 30 days."


def test_in_the_gallery() -> None:
    assert REGISTRY["delighted"].family == "nps" and "NPS" in REGISTRY["delighted"].description
