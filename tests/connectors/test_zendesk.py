"""Zendesk Support connector: the cursor-based Incremental Ticket Export, replayed from vendor-shaped fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.sources.zendesk import ZendeskConnector
from productops.dashboards.rollups import refresh_all
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import SupportTicket

from .signal_helpers import connection, load, product, query, sync, window

EXPORT = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"
ME = "https://acme.zendesk.com/api/v2/users/me.json"
P1, P2, P3 = (load("zendesk", f"export_page{n}.json") for n in (1, 2, 3))
INCREMENTAL = load("zendesk", "export_incremental.json")
EMPTY = load("zendesk", "export_empty.json")
START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
CONFIG = {
    "subdomain": "acme",
    "email": "ops@acme.example",
    "start_date": "2026-03-01",
    "product_by": "tag",
    "product_map": {"billing": "billing-app", "mobile": "mobile-app"},
}
SECRETS = {"api_token": "zd-0123456789abcdef"}
SIDE = {"include": "metric_sets"}
FRESH = {**SIDE, "exclude_deleted": "true"}  # a fresh export leaves deletions out


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["acme.zendesk.com"] = ["104.16.51.111"]
    return fake_dns


def serve_full_export() -> None:
    responses.get(EXPORT, json=P1, match=[matchers.query_param_matcher({"start_time": str(START), **FRESH})])
    responses.get(
        EXPORT, json=P2, match=[matchers.query_param_matcher({"cursor": P1["after_cursor"], **FRESH})]
    )
    responses.get(
        EXPORT, json=P3, match=[matchers.query_param_matcher({"cursor": P2["after_cursor"], **FRESH})]
    )


def tickets(conn: Any) -> dict[str, SupportTicket]:
    return {t.external_id: t for t in SupportTicket.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_full_sync_then_incremental_then_idempotent_through_sync_connection() -> None:
    billing, mobile, default = product("billing-app"), product("mobile-app"), product("web-app")
    conn = connection("zendesk", CONFIG, SECRETS, product=default)
    serve_full_export()

    sync(conn)

    rows = tickets(conn)
    assert sorted(rows) == ["201", "202", "203", "204", "205"]  # 203 came twice (pages 1 and 2): one row
    t201 = rows["201"]
    assert t201.subject == "Billing export fails"
    assert t201.body.startswith("<p>When I export the <b>invoice</b>")  # raw, as Zendesk sent it
    assert (
        t201.body_text == "When I export the invoice CSV the download never starts.\nTried twice & gave up."
    )
    assert (t201.status, t201.priority, t201.channel, t201.tags) == (
        "open",
        "normal",
        "email",
        ["billing", "export"],
    )
    assert t201.opened_at == datetime(2026, 3, 2, 9, 11, tzinfo=UTC)
    assert t201.first_response_at == datetime(2026, 3, 2, 9, 46, tzinfo=UTC)  # 35 calendar minutes later
    assert t201.csat_rating == 5 and t201.product_id == billing.pk
    assert rows["202"].csat_rating == 1 and rows["202"].product_id == default.pk  # tag "auth" is unmapped
    assert rows["203"].status == "solved"  # the later copy (page 2) wins
    assert rows["203"].solved_at == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    assert (
        rows["204"].csat_rating is None and rows["204"].product_id == mobile.pk and rows["204"].priority == ""
    )
    assert rows["205"].csat_rating is None  # "offered" is not a rating
    assert rows["205"].body_text == "Please refund order #5521.\nThanks"
    assert conn.cursors == {"tickets": {"cursor": P3["after_cursor"]}}

    # The next sync asks only for changes since the saved cursor and picks up the update to 202.
    responses.get(
        EXPORT, json=INCREMENTAL, match=[matchers.query_param_matcher({"cursor": P3["after_cursor"], **SIDE})]
    )
    sync(conn)
    assert query(responses.calls[-1]) == {"cursor": P3["after_cursor"], **SIDE}
    rows = tickets(conn)
    assert sorted(rows) == ["201", "202", "203", "204", "205", "206"]
    assert (rows["202"].status, rows["202"].csat_rating) == ("solved", 5)
    assert rows["206"].product_id == billing.pk

    # A third sync: Zendesk has nothing new (an empty page); nothing changes, the cursor holds.
    responses.get(
        EXPORT,
        json=EMPTY,
        match=[matchers.query_param_matcher({"cursor": INCREMENTAL["after_cursor"], **SIDE})],
    )
    before = {k: (v.last_seen_at, v.status) for k, v in tickets(conn).items()}
    sync(conn)
    assert {k: (v.last_seen_at, v.status) for k, v in tickets(conn).items()} == before
    run = conn.runs.order_by("-pk").first()
    assert run is not None and (run.rows_inserted, run.rows_updated) == (0, 0)
    assert conn.cursors == {"tickets": {"cursor": EMPTY["after_cursor"]}}

    # Re-reading everything (a full refresh over the same fixtures) is idempotent.
    serve_full_export()
    count = SupportTicket.objects.count()
    conn.cursors = {}
    conn.save()
    sync(conn)
    assert SupportTicket.objects.count() == count

    # And the dashboards see them: the tickets table for March, per product.
    refresh_all()
    qs = table_queryset(TABLES["tickets"], window(date(2026, 3, 1), date(2026, 3, 31), billing), {})
    assert sorted(row[1] for row in qs) == ["201", "205", "206"]


def reader(sleeps: list[float]) -> ZendeskConnector:
    client = HttpClient(sleep=sleeps.append, rand=lambda: 0.5, retry=RetryPolicy(max_attempts=3))
    return ZendeskConnector({**CONFIG, "product_map": {}}, SECRETS, client=client)


@responses.activate
def test_429_waits_for_zendesks_retry_after_and_a_500_is_retried() -> None:
    responses.get(EXPORT, status=429, headers={"Retry-After": "47"}, body="Too Many Requests")
    responses.get(EXPORT, json=P1)
    responses.get(EXPORT, status=503, json={"error": "ServiceUnavailable", "description": "Maintenance"})
    responses.get(EXPORT, json=P2)
    responses.get(EXPORT, json=P3)
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("tickets", None))
    assert sleeps[0] == 47.0  # the vendor's header, not our backoff
    assert len(sleeps) == 2 and sleeps[1] == 0.5  # the 503: full-jitter backoff (rand 0.5 x 1 s)
    assert [p.done for p in pages] == [False, False, True]
    assert sum(len(p.records) for p in pages) == 6  # 3 + 2 + 1 (203 twice, deduped by the upsert)


@responses.activate
def test_an_exhausted_window_waits_for_ratelimit_reset_before_the_next_page() -> None:
    responses.get(EXPORT, json=P1, headers={"ratelimit-remaining": "0", "ratelimit-reset": "41"})
    responses.get(EXPORT, json=P2, headers={"ratelimit-remaining": "8", "ratelimit-reset": "30"})
    responses.get(EXPORT, json=P3)
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("tickets", None))
    assert sleeps == [41.0] and len(pages) == 3


@responses.activate
def test_bad_token_is_permanent_and_check_says_what_to_do() -> None:
    responses.get(ME, status=401, json=load("zendesk", "error_401.json"))
    responses.get(EXPORT, status=401, json=load("zendesk", "error_401.json"))
    connector = reader([])
    result = connector.check()
    assert (
        not result.ok
        and "Check the API token" in result.message
        and SECRETS["api_token"] not in result.message
    )
    with pytest.raises(ConnectorError) as info:
        list(connector.read("tickets", None))
    assert info.value.permanent


@responses.activate
def test_check_names_the_agent() -> None:
    responses.get(ME, json=load("zendesk", "users_me.json"))
    assert reader([]).check().message == "Connected to acme.zendesk.com as ops@acme.example."


@pytest.mark.django_db
@responses.activate
def test_brand_ids_can_decide_the_product() -> None:
    other = product("support-portal")
    responses.get(EXPORT, json=P1)
    responses.get(EXPORT, json=P2)
    responses.get(EXPORT, json=P3)
    config = {**CONFIG, "product_by": "brand", "product_map": {"360000000003": "support-portal"}}
    connector = ZendeskConnector(config, SECRETS, client=HttpClient(sleep=lambda s: None))
    records = {r.external_id: r.values for p in connector.read("tickets", None) for r in p.records}
    assert records["202"]["product_id"] == other.pk  # brand 360000000003
    assert "product_id" not in records["201"]  # brand ...002 is unmapped: the connection's product applies


def test_in_the_gallery() -> None:
    cls = REGISTRY["zendesk"]
    assert cls.family == "tickets" and "satisfaction" in cls.description
