"""The JSON/CSV-over-HTTP source, replayed with `responses` from vendor-shaped fixtures over several pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import ConnectorError, Page
from connectors.sources.http_json import HttpJsonConnector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DELIGHTED = "https://api.delighted.com/v1/survey_responses.json"
ZENDESK = "https://acme.zendesk.com/api/v2/tickets.json"
GITHUB = "https://api.github.com/repos/acme/app/issues"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records.update(
        {
            "api.delighted.com": ["52.1.2.3"],
            "acme.zendesk.com": ["104.16.51.111"],
            "api.github.com": ["140.82.112.6"],
            "reports.example.test": ["93.184.215.14"],
        }
    )
    return fake_dns


def connector(config: dict[str, Any], secret: str = "") -> HttpJsonConnector:
    c = HttpJsonConnector(config, {"auth_header_value": secret} if secret else {})
    c.client.sleep = lambda seconds: None
    return c


DELIGHTED_CONFIG = {
    "url": DELIGHTED,
    "format": "json",
    "family": "nps",
    "auth_header_name": "Authorization",
    "records_path": "",
    "mapping": {
        "id": "id",
        "score": "score",
        "comment": "comment",
        "submitted_at": "created_at",
        "segment": "person_properties",
    },
    "pagination": "page",
    "page_size": 2,
    "page_param": "page",
    "size_param": "per_page",
}


def _delighted(page: int, status: int = 200) -> None:
    responses.add(
        responses.GET,
        DELIGHTED,
        json=fixture(f"delighted/survey_responses_page{page}.json") if status == 200 else {"error": "x"},
        status=status,
        match=[
            matchers.query_param_matcher({"page": str(page), "per_page": "2"}),
            matchers.header_matcher({"Authorization": "Basic ZGVsaWdodGVkOg=="}),
        ],
    )


@responses.activate
def test_page_paging_reads_every_page_and_resets_the_cursor_at_the_end() -> None:
    for page in (1, 2, 3):
        _delighted(page)
    pages = list(connector(DELIGHTED_CONFIG, "Basic ZGVsaWdodGVkOg==").read("records", None))
    assert [p.cursor for p in pages] == [{"next": 2}, {"next": 3}, None]
    assert [p.done for p in pages] == [False, False, True]
    records = [r for p in pages for r in p.records]
    assert [r.external_id for r in records] == ["1001", "1002", "1003", "1004", "1005"]
    first = records[0]
    assert first.model == "signals.NpsResponse"
    assert first.values["score"] == 9 and first.values["comment"] == "Fast and clear"
    assert first.values["submitted_at"].isoformat() == "2025-11-01T01:00:00+00:00"
    assert first.values["segment"] == {"plan": "Pro"}
    assert "comment" not in records[1].values  # null at the source: left to the model default


@responses.activate
def test_a_saved_cursor_resumes_after_the_last_committed_page() -> None:
    _delighted(3)
    pages = list(connector(DELIGHTED_CONFIG, "Basic ZGVsaWdodGVkOg==").read("records", {"next": 3}))
    assert [r.external_id for p in pages for r in p.records] == ["1005"]
    assert len(responses.calls) == 1


@responses.activate
def test_a_500_mid_stream_is_retried_and_nothing_is_lost() -> None:
    _delighted(1)
    _delighted(2, status=500)
    _delighted(2)
    _delighted(3)
    pages = list(connector(DELIGHTED_CONFIG, "Basic ZGVsaWdodGVkOg==").read("records", None))
    assert sum(len(p.records) for p in pages) == 5


@responses.activate
def test_a_401_makes_check_fail_with_advice_and_read_raise_permanent() -> None:
    responses.add(responses.GET, DELIGHTED, status=401, json={"error": "Unauthorized"})
    c = connector(DELIGHTED_CONFIG, "Basic bm9wZTpub3Bl")
    result = c.check()
    assert not result.ok and "Check the API token" in result.message and "bm9wZTpub3Bl" not in result.message
    with pytest.raises(ConnectorError) as info:
        list(c.read("records", None))
    assert info.value.permanent


@responses.activate
def test_cursor_paging_with_zendesk_has_more() -> None:
    config = {
        "url": ZENDESK,
        "format": "json",
        "family": "tickets",
        "auth_header_name": "Authorization",
        "records_path": "tickets",
        "mapping": {
            "id": "id",
            "subject": "subject",
            "body": "description",
            "status": "status",
            "priority": "priority",
            "tags": "tags",
            "channel": "via.channel",
            "opened_at": "created_at",
        },
        "pagination": "cursor",
        "cursor_path": "meta.after_cursor",
        "cursor_param": "page[after]",
        "has_more_path": "meta.has_more",
    }
    responses.add(
        responses.GET,
        ZENDESK,
        json=fixture("zendesk/tickets_cursor_page1.json"),
        match=[matchers.query_param_matcher({})],
    )
    responses.add(
        responses.GET,
        ZENDESK,
        json=fixture("zendesk/tickets_cursor_page2.json"),
        match=[matchers.query_param_matcher({"page[after]": "xxx1"})],
    )
    pages = list(connector(config, "Bearer zd-token").read("records", None))
    assert [p.cursor for p in pages] == [{"next": "xxx1"}, None]
    tickets = [r for p in pages for r in p.records]
    assert [(t.external_id, t.values["status"], t.values["channel"]) for t in tickets] == [
        ("1", "open", "email"),
        ("2", "solved", "email"),
        ("3", "pending", "email"),
    ]
    assert tickets[0].values["tags"] == ["billing"]
    assert len(responses.calls) == 2  # has_more: false stops, though Zendesk still sends a cursor


@responses.activate
def test_link_header_paging_into_portfolio_items() -> None:
    config = {
        "url": GITHUB,
        "format": "json",
        "family": "portfolio",
        "auth_header_name": "Authorization",
        "records_path": "",
        "mapping": {
            "id": "number",
            "title": "title",
            "status": "state",
            "url": "html_url",
            "assignee": "assignee.login",
            "updated_at_source": "updated_at",
        },
        "pagination": "link",
    }
    responses.add(
        responses.GET,
        GITHUB,
        json=fixture("github/issues_page1.json"),
        headers={"Link": f'<{GITHUB}?page=2>; rel="next", <{GITHUB}?page=2>; rel="last"'},
        match=[matchers.query_param_matcher({})],
    )
    responses.add(
        responses.GET,
        f"{GITHUB}?page=2",
        json=fixture("github/issues_page2.json"),
        headers={"Link": f'<{GITHUB}?page=1>; rel="prev", <{GITHUB}?page=1>; rel="first"'},
    )
    c = connector(config, "Bearer ghp_x")
    pages = list(c.read("records", None))
    assert [p.cursor for p in pages] == [{"next": f"{GITHUB}?page=2"}, None]
    items = [r for p in pages for r in p.records]
    assert [(i.external_id, i.values["title"], i.values.get("assignee")) for i in items] == [
        ("1", "Billing export v2", "mona"),
        ("2", "SSO", None),
        ("3", "Dark mode", "hubot"),
    ]
    # Resuming from the saved Link URL asks for exactly that page.
    resumed = list(c.read("records", {"next": f"{GITHUB}?page=2"}))
    assert [r.external_id for p in resumed for r in p.records] == ["3"]


@responses.activate
def test_offset_paging_of_metric_points_groups_them_by_metric() -> None:
    url = "https://reports.example.test/api/points"
    config = {
        "url": url,
        "format": "json",
        "family": "metrics",
        "records_path": "data.points",
        "mapping": {"metric": "name", "ts": "day", "value": "count"},
        "pagination": "offset",
        "page_size": 2,
        "offset_param": "offset",
        "limit_param": "limit",
    }
    rows = [{"name": "signups", "day": f"2026-11-0{d}", "count": d * 10} for d in range(1, 4)]
    for offset, chunk in ((0, rows[:2]), (2, rows[2:])):
        responses.add(
            responses.GET,
            url,
            json={"data": {"points": chunk}},
            match=[matchers.query_param_matcher({"offset": str(offset), "limit": "2"})],
        )
    pages: list[Page] = list(connector(config).read("records", None))
    assert [p.cursor for p in pages] == [{"next": 2}, None]
    metric = pages[0].records[0]
    assert (metric.model, metric.external_id, metric.values) == (
        "signals.Metric",
        "signups",
        {"key": "signups", "name": "signups"},
    )
    child_model, points, fk = metric.children[0]
    assert (child_model, fk, [p["value"] for p in points]) == (
        "signals.MetricPoint",
        "metric_id",
        [10.0, 20.0],
    )


@responses.activate
def test_csv_over_http() -> None:
    url = "https://reports.example.test/export/nps.csv"
    responses.add(
        responses.GET,
        url,
        body="\ufeffResponse ID,Score,When,Text\nr1,9,2026-11-01T10:00:00Z,Nice\n"
        "r2,4,2026-11-02T10:00:00Z,\n",
        content_type="text/csv",
    )
    config = {
        "url": url,
        "format": "csv",
        "family": "nps",
        "records_path": "",
        "mapping": {"id": "Response ID", "score": "Score", "submitted_at": "When", "comment": "Text"},
        "pagination": "none",
    }
    pages = list(connector(config).read("records", None))
    assert [(r.external_id, r.values["score"]) for r in pages[0].records] == [("r1", 9), ("r2", 4)]
    assert pages[0].done and pages[0].cursor is None


@responses.activate
def test_a_record_that_does_not_fit_the_mapping_names_the_page_record_and_field() -> None:
    responses.add(responses.GET, DELIGHTED, json=[{"id": "1", "score": "eleven", "created_at": 1761955200}])
    config = {**DELIGHTED_CONFIG, "pagination": "none"}
    with pytest.raises(ConnectorError, match=r"page 1, record 0\.score: must be a number") as info:
        list(connector(config).read("records", None))
    assert info.value.permanent


def test_bad_config_is_reported_by_check() -> None:
    result = connector({**DELIGHTED_CONFIG, "mapping": {"score": "score", "colour": "c"}}).check()
    assert not result.ok and "Unknown field(s) for nps: colour" in result.message
    assert "Map the required field(s): id, submitted_at" in result.message
    cursor_without_path = connector({**DELIGHTED_CONFIG, "pagination": "cursor"}).check()
    assert not cursor_without_path.ok and "cursor_path" in cursor_without_path.message


def test_an_internal_url_is_refused_by_the_ssrf_guard() -> None:
    result = connector({**DELIGHTED_CONFIG, "url": "http://169.254.169.254/latest/meta-data/"}).check()
    assert not result.ok and "cloud metadata" in result.message
