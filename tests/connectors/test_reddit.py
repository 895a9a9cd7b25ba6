"""Reddit connector: app-only OAuth and the subreddit search listing, replayed from vendor-shaped fixtures."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources.reddit import RedditConnector
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import Mention
from productops.signals.pii import respondent_hash

from .signal_helpers import connection, load, product, query, sync, text, window

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
SEARCH = "https://oauth.reddit.com/r/acmeapp/search"
TOKEN = load("reddit", "access_token.json")["access_token"]
P1, P2, P3 = (load("reddit", f"search_page{n}.json") for n in (1, 2, 3))
CONFIG = {
    "client_id": "p-jcoLKBynTLew",
    "user_agent": "productops/1.0 (by /u/acme_ops)",
    "terms": 'acme\n"acme app"',
    "subreddits": "acmeapp",
    "start_date": "2026-03-01",
    "product_map": {"acmeapp": "acme-app"},
}
SECRETS = {"client_secret": "gko_LXELoV07ZBNUXrvWZfzE3aI"}
BASIC = base64.b64encode(f"{CONFIG['client_id']}:{SECRETS['client_secret']}".encode()).decode()
RATE = {"X-Ratelimit-Used": "3", "X-Ratelimit-Remaining": "97.0", "X-Ratelimit-Reset": "412"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records.update({"www.reddit.com": ["151.101.65.140"], "oauth.reddit.com": ["151.101.1.140"]})
    return fake_dns


def params(after: str | None = None) -> dict[str, str]:
    p = {
        "q": 'acme OR "acme app"',
        "sort": "new",
        "limit": "100",
        "raw_json": "1",
        "type": "link",
        "restrict_sr": "1",
    }
    if after:
        p["after"] = after
    return p


def serve_token() -> None:
    responses.post(
        TOKEN_URL,
        json=load("reddit", "access_token.json"),
        match=[
            matchers.urlencoded_params_matcher({"grant_type": "client_credentials"}),
            matchers.header_matcher(
                {"Authorization": f"Basic {BASIC}", "User-Agent": str(CONFIG["user_agent"])}
            ),
        ],
    )


def serve(payload: Any, after: str | None = None, headers: dict[str, str] | None = None) -> None:
    responses.get(
        SEARCH,
        json=payload,
        headers=headers or RATE,
        match=[
            matchers.query_param_matcher(params(after)),
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
        ],
    )


def serve_full() -> None:
    serve_token()
    serve(P1)
    serve(P2, "t3_1b9j7q")
    serve(P3, "t3_1b9f0a")


def mentions(conn: Any) -> dict[str, Mention]:
    return {m.external_id: m for m in Mention.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_full_then_incremental_then_idempotent_through_sync_connection() -> None:
    acme = product("acme-app")
    conn = connection("reddit", CONFIG, SECRETS)
    serve_full()

    sync(conn)

    rows = mentions(conn)
    assert sorted(rows) == [f"reddit:t3_{i}" for i in ("1b9d5m", "1b9f0a", "1b9h3c", "1b9j7q", "1b9k2x")]
    post = rows["reddit:t3_1b9k2x"]
    assert (post.platform, post.title, post.text, post.score) == (
        "reddit",
        "Billing export fails again",
        "Acme's CSV export never downloads & support is slow.",
        12,
    )
    assert post.url == "https://www.reddit.com/r/acmeapp/comments/1b9k2x/billing_export_fails_again/"
    assert post.posted_at == datetime(2026, 3, 2, 14, 0, tzinfo=UTC) and post.product_id == acme.pk
    assert post.author_hash == respondent_hash("reddit:throwaway_42")
    assert rows["reddit:t3_1b9f0a"].author_hash == ""  # [deleted]
    assert rows["reddit:t3_1b9h3c"].text == "It's **fast**.\n\nGreat work."  # Markdown kept as sent
    high = 1772460000.0
    assert conn.cursors == {"r/acmeapp": {"since": high - 3600}}

    # Next sync: newest first, stopping at the first post older than the cursor; one listing request.
    calls_before = len(responses.calls)
    serve_token()
    serve(load("reddit", "search_incremental.json"))
    sync(conn)
    searches = [c for c in responses.calls[calls_before:] if str(c.request.url).startswith(SEARCH)]
    assert len(searches) == 1 and query(searches[0]) == params()
    rows = mentions(conn)
    assert len(rows) == 6 and rows["reddit:t3_1b9k2x"].score == 45
    assert rows["reddit:t3_1bc2zz"].title == "Acme billing export fixed!"
    assert conn.cursors == {"r/acmeapp": {"since": 1772700000.0 - 3600}}

    # An empty listing: nothing changes, the cursor holds.
    serve_token()
    serve(load("reddit", "search_empty.json"))
    sync(conn)
    assert conn.cursors == {"r/acmeapp": {"since": 1772700000.0 - 3600}} and Mention.objects.count() == 6

    # A full re-read is idempotent.
    serve_full()
    conn.cursors = {}
    conn.save()
    sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert Mention.objects.count() == 6 and run is not None and run.rows_inserted == 0

    qs = table_queryset(TABLES["mentions"], window(date(2026, 3, 1), date(2026, 3, 31), acme), {})
    assert len(list(qs)) == 6


def reader(sleeps: list[float]) -> RedditConnector:
    connector = RedditConnector({**CONFIG, "product_map": {}}, SECRETS)
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_waits_for_x_ratelimit_reset_and_an_exhausted_budget_pauses_before_the_next_call() -> None:
    serve_token()
    responses.get(
        SEARCH,
        status=429,
        json=load("reddit", "error_429.json"),
        headers={"X-Ratelimit-Used": "100", "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "42"},
    )
    responses.get(
        SEARCH, json=P1, headers={**RATE, "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "17"}
    )
    responses.get(SEARCH, status=503, body=text("reddit", "error_503.html"), content_type="text/html")
    responses.get(SEARCH, json=P2, headers=RATE)
    responses.get(SEARCH, json=P3, headers=RATE)
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("r/acmeapp", None))
    # 42: the 429's reset; 17: the budget ran out on page 1; 0.5: the 503's jittered backoff.
    assert sleeps == [42.0, 17.0, 0.5]
    assert sum(len(p.records) for p in pages) == 5


@responses.activate
def test_wrong_app_credentials_are_permanent() -> None:
    responses.post(TOKEN_URL, status=401, json=load("reddit", "error_401.json"))
    connector = reader([])
    result = connector.check()
    assert (
        not result.ok
        and "Check the API token" in result.message
        and SECRETS["client_secret"] not in result.message
    )
    with pytest.raises(ConnectorError) as info:
        list(connector.read("r/acmeapp", None))
    assert info.value.permanent


@responses.activate
def test_an_expired_bearer_is_permanent_too() -> None:
    serve_token()
    responses.get(SEARCH, status=401, json=load("reddit", "error_401.json"))
    with pytest.raises(ConnectorError) as info:
        list(reader([]).read("r/acmeapp", None))
    assert info.value.permanent and "Unauthorized" in info.value.message


def test_streams_per_subreddit_and_gallery() -> None:
    assert RedditConnector({"subreddits": "acmeapp\nr/SaaS\n"}, {}).streams() == ["r/acmeapp", "r/SaaS"]
    assert RedditConnector({"subreddits": ""}, {}).streams() == ["all"]
    cls = REGISTRY["reddit"]
    assert cls.family == "mentions" and "subreddit" in cls.description
