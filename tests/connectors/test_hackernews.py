"""Hacker News (Algolia) connector: time-sliced search_by_date replayed from vendor-shaped fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources import hackernews
from connectors.sources.hackernews import HackerNewsConnector
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import Mention
from productops.signals.pii import respondent_hash

from .signal_helpers import connection, load, product, query, sync, window

SEARCH = "https://hn.algolia.com/api/v1/search_by_date"
START, MID, END, END2 = 1772323200, 1772496000, 1772668800, 1772755200  # Mar 1, 3, 5, 6 2026
CONFIG = {
    "terms": "acme",
    "kinds": "both",
    "start_date": "2026-03-01",
    "hits_per_page": 2,
    "product_map": {"acme": "acme-app"},
}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["hn.algolia.com"] = ["151.101.1.195"]
    return fake_dns


def params(lo: int, hi: int, page: int = 0) -> dict[str, str]:
    return {
        "query": "acme",
        "tags": "(story,comment)",
        "numericFilters": f"created_at_i>={lo},created_at_i<{hi}",
        "page": str(page),
        "hitsPerPage": "2",
    }


def serve(name: str, lo: int, hi: int, page: int = 0) -> None:
    responses.get(
        SEARCH, json=load("hackernews", name), match=[matchers.query_param_matcher(params(lo, hi, page))]
    )


def serve_full() -> None:
    serve("search_over_cap.json", START, END)  # 1500 hits: more than Algolia will page through
    serve("search_page1.json", START, MID)
    serve("search_page2.json", START, MID, 1)
    serve("search_page3.json", START, MID, 2)
    serve("search_empty.json", MID, END)


def mentions(conn: Any) -> dict[str, Mention]:
    return {m.external_id: m for m in Mention.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_time_sliced_full_sync_then_incremental_then_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    acme = product("acme-app")
    conn = connection("hackernews", CONFIG, {})
    monkeypatch.setattr(hackernews, "_now", lambda: float(END))
    serve_full()

    sync(conn)

    # The over-cap window was halved before paging: [Mar 1, Mar 3) paged, then [Mar 3, Mar 5).
    asked = [query(c)["numericFilters"] + "#" + query(c)["page"] for c in responses.calls]
    assert asked == [
        f"created_at_i>={START},created_at_i<{END}#0",
        f"created_at_i>={START},created_at_i<{MID}#0",
        f"created_at_i>={START},created_at_i<{MID}#1",
        f"created_at_i>={START},created_at_i<{MID}#2",
        f"created_at_i>={MID},created_at_i<{END}#0",
    ]
    rows = mentions(conn)
    assert sorted(rows) == ["hn:39560334", "hn:39561234", "hn:39561244", "hn:39561284", "hn:39561300"]
    story = rows["hn:39561234"]
    assert (story.platform, story.title, story.url, story.score, story.text) == (
        "hackernews",
        "Acme launches billing export",
        "https://acme.example/blog/export",
        87,
        "",
    )
    assert story.posted_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC) and story.product_id == acme.pk
    assert story.author_hash == respondent_hash("hackernews:jdoe") and "jdoe" not in story.author_hash
    comment = rows["hn:39561284"]
    assert comment.text == "The Acme export still fails for me \u2014 CSV never downloads.\nAnyone else?"
    assert comment.url == "https://news.ycombinator.com/item?id=39561284"
    assert comment.title == "Acme launches billing export" and comment.score == 0
    show = rows["hn:39561300"]
    assert show.text == "We shipped dark mode in Acme.\nFeedback welcome & thanks"
    assert show.url == "https://news.ycombinator.com/item?id=39561300"  # a text post: the HN page
    assert rows["hn:39561244"].text == "Acme's pricing is fair"
    assert conn.cursors == {"term:acme": {"since": END - 3600}}

    # A day later: only [END - 1h, now) is asked for; the story's new points and a new comment land.
    monkeypatch.setattr(hackernews, "_now", lambda: float(END2))
    serve("search_incremental.json", END - 3600, END2)
    sync(conn)
    assert query(responses.calls[-1]) == params(END - 3600, END2)
    rows = mentions(conn)
    assert len(rows) == 6 and rows["hn:39561234"].score == 240
    assert rows["hn:39568234"].text == "Dark mode in Acme looks great"
    assert conn.cursors == {"term:acme": {"since": END2 - 3600}}

    # Re-reading everything is idempotent.
    monkeypatch.setattr(hackernews, "_now", lambda: float(END))
    serve_full()
    conn.cursors = {}
    conn.save()
    sync(conn)
    assert Mention.objects.count() == 6
    run = conn.runs.order_by("-pk").first()
    assert run is not None and run.rows_inserted == 0

    # The dashboards' mentions table shows them for the product.
    qs = table_queryset(TABLES["mentions"], window(date(2026, 3, 1), date(2026, 3, 31), acme), {})
    assert len(list(qs)) == 6


def reader(sleeps: list[float]) -> HackerNewsConnector:
    connector = HackerNewsConnector({**CONFIG, "product_map": {}}, {})
    # The connector's own client (its vendor reset header), with a recorded sleep instead of waiting.
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=4)
    return connector


@responses.activate
def test_429_and_500_are_retried_and_a_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hackernews, "_now", lambda: float(MID))
    responses.get(
        SEARCH, status=429, json=load("hackernews", "error_429.json"), headers={"Retry-After": "20"}
    )
    responses.get(SEARCH, status=429, json=load("hackernews", "error_429.json"))
    responses.get(SEARCH, status=500, json=load("hackernews", "error_500.json"))
    responses.get(SEARCH, json=load("hackernews", "search_page1.json"))
    responses.get(SEARCH, json=load("hackernews", "search_page2.json"))
    responses.get(SEARCH, json=load("hackernews", "search_page3.json"))
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("term:acme", None))
    # Retry-After when sent; otherwise full-jitter backoff (Algolia sends no reset header here).
    assert sleeps == [20.0, 1.0, 2.0]
    assert sum(len(p.records) for p in pages) == 5 and pages[-1].done


@responses.activate
def test_a_refused_request_is_permanent() -> None:
    responses.get(SEARCH, status=403, json=load("hackernews", "error_403.json"))
    connector = reader([])
    result = connector.check()
    assert not result.ok and "Method not allowed" in result.message
    with pytest.raises(ConnectorError) as info:
        list(connector.read("term:acme", None))
    assert info.value.permanent


def test_streams_one_per_term_and_gallery() -> None:
    connector = HackerNewsConnector({"terms": 'acme\n\n"acme app"\n'}, {})
    assert connector.streams() == ["term:acme", 'term:"acme app"']
    cls = REGISTRY["hackernews"]
    assert cls.family == "mentions" and "Hacker News" in cls.description
