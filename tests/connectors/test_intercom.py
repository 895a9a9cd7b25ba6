"""Intercom connector: conversations search replayed from vendor-shaped fixtures through sync_connection."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources.intercom import IntercomConnector
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import SupportTicket

from .signal_helpers import connection, load, product, sync, window

SEARCH = "https://api.intercom.io/conversations/search"
ME = "https://api.intercom.io/me"
P1, P2, P3 = (load("intercom", f"search_page{n}.json") for n in (1, 2, 3))
INCREMENTAL = load("intercom", "search_incremental.json")
EMPTY = load("intercom", "search_empty.json")
START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
T0 = 1772442660  # 2026-03-02T09:11:00Z, the first conversation's created_at
CONFIG = {
    "region": "us",
    "intercom_version": "2.11",
    "start_date": "2026-03-01",
    "per_page": 2,
    "product_map": {"billing": "billing-app", "mobile": "mobile-app"},
}
SECRETS = {"access_token": "dG9rOmFiY2RlZl8xMjM0NTY3ODkw"}
HEADERS = {"Authorization": f"Bearer {SECRETS['access_token']}", "Intercom-Version": "2.11"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["api.intercom.io"] = ["34.197.76.213"]
    return fake_dns


def body(since: int, after: str | None = None) -> dict[str, Any]:
    pagination: dict[str, Any] = {"per_page": 2}
    if after:
        pagination["starting_after"] = after
    return {"query": {"field": "updated_at", "operator": ">", "value": since}, "pagination": pagination}


def serve(payload: Any, since: int, after: str | None = None) -> None:
    responses.post(
        SEARCH,
        json=payload,
        match=[matchers.json_params_matcher(body(since, after)), matchers.header_matcher(HEADERS)],
    )


def serve_full() -> None:
    serve(P1, START)
    serve(P2, START, P1["pages"]["next"]["starting_after"])
    serve(P3, START, P2["pages"]["next"]["starting_after"])


def tickets(conn: Any) -> dict[str, SupportTicket]:
    return {t.external_id: t for t in SupportTicket.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_full_then_incremental_then_idempotent_through_sync_connection() -> None:
    billing, mobile, default = product("billing-app"), product("mobile-app"), product("web-app")
    conn = connection("intercom", CONFIG, SECRETS, product=default)
    serve_full()

    sync(conn)

    rows = tickets(conn)
    assert sorted(rows) == ["1295", "1296", "1297", "1298", "1299"]
    first = rows["1295"]
    assert first.subject == "Billing export fails"
    assert first.body.startswith("<p>When I export the <b>invoice</b>")  # raw, as Intercom sent it
    assert (
        first.body_text == "When I export the invoice CSV the download never starts.\nTried twice & gave up."
    )
    assert (first.status, first.priority, first.channel, first.tags) == (
        "open",
        "high",
        "conversation",
        ["billing", "export"],
    )
    assert first.opened_at == datetime(2026, 3, 2, 9, 11, tzinfo=UTC)
    assert first.first_response_at == datetime(2026, 3, 2, 9, 46, tzinfo=UTC)
    assert first.solved_at is None and first.csat_rating is None and first.product_id == billing.pk
    sso = rows["1296"]
    assert (sso.subject, sso.status, sso.channel, sso.csat_rating, sso.priority) == (
        "",
        "solved",
        "email",
        2,
        "",
    )
    assert sso.solved_at == datetime(2026, 3, 2, 11, 11, tzinfo=UTC) and sso.product_id == default.pk
    assert rows["1297"].status == "pending" and rows["1297"].product_id == mobile.pk  # snoozed
    assert rows["1298"].body_text == "Please refund order #5521.\nThanks" and rows["1298"].csat_rating == 5
    assert rows["1299"].tags == [] and rows["1299"].product_id == default.pk
    high = T0 + 11000  # the newest updated_at seen
    assert conn.cursors == {"conversations": {"since": high - 1}}

    # The next sync searches only conversations updated since then and picks up the change to 1296.
    serve(INCREMENTAL, high - 1)
    sync(conn)
    assert json.loads(responses.calls[-1].request.body or b"") == body(high - 1)
    rows = tickets(conn)
    assert sorted(rows) == ["1295", "1296", "1297", "1298", "1299", "1300"]
    assert (rows["1296"].csat_rating, rows["1296"].solved_at) == (4, datetime(2026, 3, 3, 10, 11, tzinfo=UTC))
    assert rows["1300"].product_id == billing.pk
    assert conn.cursors == {"conversations": {"since": T0 + 90000 - 1}}

    # Nothing new: an empty page; nothing is rewritten and the cursor holds.
    serve(EMPTY, T0 + 90000 - 1)
    before = {k: v.last_seen_at for k, v in tickets(conn).items()}
    sync(conn)
    assert {k: v.last_seen_at for k, v in tickets(conn).items()} == before
    assert conn.cursors == {"conversations": {"since": T0 + 90000 - 1}}

    # A full refresh over the same fixtures is idempotent: no new rows.
    serve_full()
    count = SupportTicket.objects.count()
    conn.cursors = {}
    conn.save()
    sync(conn)
    assert SupportTicket.objects.count() == count
    run = conn.runs.order_by("-pk").first()
    assert run is not None and run.rows_inserted == 0

    # The dashboards' tickets table sees them, per product.
    qs = table_queryset(TABLES["tickets"], window(date(2026, 3, 1), date(2026, 3, 31), billing), {})
    assert sorted(row[1] for row in qs) == ["1295", "1298", "1300"]


def reader(sleeps: list[float]) -> IntercomConnector:
    connector = IntercomConnector({**CONFIG, "product_map": {}}, SECRETS)
    # The connector's own client (its vendor reset header), with a recorded sleep instead of waiting.
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_waits_until_x_ratelimit_reset_and_a_500_is_retried() -> None:
    reset = int(time.time()) + 30
    responses.post(
        SEARCH,
        status=429,
        json=load("intercom", "error_429.json"),
        headers={"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    responses.post(SEARCH, json=P1)
    responses.post(SEARCH, status=500, json=load("intercom", "error_500.json"))
    responses.post(SEARCH, json=P2)
    responses.post(SEARCH, json=P3)
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("conversations", None))
    after = time.time()
    assert reset - after - 1 <= sleeps[0] <= 30  # until the vendor's reset time, not our backoff
    assert sleeps[1:] == [0.5]  # the 500: full-jitter backoff
    assert sum(len(p.records) for p in pages) == 5 and pages[-1].done


@responses.activate
def test_bad_token_is_permanent_and_check_says_what_to_do() -> None:
    responses.get(ME, status=401, json=load("intercom", "error_401.json"))
    responses.post(SEARCH, status=401, json=load("intercom", "error_401.json"))
    connector = reader([])
    result = connector.check()
    assert (
        not result.ok and "Access Token Invalid" in result.message and "Check the API token" in result.message
    )
    assert SECRETS["access_token"] not in result.message
    with pytest.raises(ConnectorError) as info:
        list(connector.read("conversations", None))
    assert info.value.permanent


@responses.activate
def test_check_names_the_workspace_and_admin() -> None:
    responses.get(ME, json=load("intercom", "me.json"), match=[matchers.header_matcher(HEADERS)])
    assert reader([]).check().message == "Connected to Acme as ops@acme.example."


def test_in_the_gallery_as_tickets() -> None:
    cls = REGISTRY["intercom"]
    assert (
        cls.family == "tickets" and "Conversations" in cls.description and "access_token" in cls.secret_fields
    )
