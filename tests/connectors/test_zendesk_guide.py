"""Zendesk Guide connector: the incremental article export (+ votes) and the optional search-terms export."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources import zendesk_guide
from connectors.sources.zendesk_guide import ZendeskGuideConnector
from insights.anomalies.selectors import derived_series
from productops.dashboards import rollups
from productops.signals.models import KbArticle, KbSearch

from .signal_helpers import connection, load, product, query, sync, text

EXPORT = "https://acme.zendesk.com/api/v2/help_center/incremental/articles"
ME = "https://acme.zendesk.com/api/v2/users/me.json"
SEARCH_CSV = "https://exports.acme.example/explore/guide-search.csv"
START = 1772323200  # 2026-03-01
CONFIG = {
    "subdomain": "acme",
    "email": "ops@acme.example",
    "start_date": "2026-03-01",
    "product_by": "label",
    "product_map": {"billing": "billing-app", "mobile": "mobile-app"},
}
SECRETS = {"api_token": "zdg-0123456789abcdef"}
BASIC = "Basic " + base64.b64encode(b"ops@acme.example/token:zdg-0123456789abcdef").decode()


@pytest.fixture(autouse=True)
def dns(fake_dns: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake_dns.records.update(
        {"acme.zendesk.com": ["104.16.51.111"], "exports.acme.example": ["93.184.215.14"]}
    )
    # Real pages hold 1000 articles; two keeps the fixtures small while still paging three times.
    monkeypatch.setattr(zendesk_guide, "PAGE_LIMIT", 2)
    return fake_dns


def serve(name: str, start: int) -> None:
    responses.get(
        EXPORT,
        json=load("zendesk_guide", name),
        match=[
            matchers.query_param_matcher({"start_time": str(start)}),
            matchers.header_matcher({"Authorization": BASIC}),
        ],
    )


def serve_full() -> None:
    serve("articles_page1.json", START)
    serve("articles_page2.json", 1772442000)
    serve("articles_page3.json", 1772449200)


def articles(conn: Any) -> dict[str, KbArticle]:
    return {a.external_id: a for a in KbArticle.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_articles_full_then_incremental_then_idempotent() -> None:
    billing, mobile, default = product("billing-app"), product("mobile-app"), product("web-app")
    conn = connection("zendesk_guide", CONFIG, SECRETS, product=default)
    serve_full()

    sync(conn)

    rows = articles(conn)
    assert sorted(rows) == [f"36000100{n}" for n in range(1, 6)]
    csv_article = rows["360001001"]
    assert (csv_article.title, csv_article.helpful_votes, csv_article.unhelpful_votes) == (
        "Export invoices as CSV",
        7,
        3,
    )
    assert csv_article.url == "https://acme.zendesk.com/hc/en-us/articles/360001001-Export-invoices-as-CSV"
    assert csv_article.updated_at_source == datetime(2026, 3, 2, 7, 59, tzinfo=UTC)  # edited_at
    assert csv_article.product_id == billing.pk
    assert (rows["360001003"].helpful_votes, rows["360001003"].unhelpful_votes) == (1, 4)  # vote_sum -3 of 5
    assert (rows["360001004"].helpful_votes, rows["360001004"].product_id) == (0, mobile.pk)
    assert rows["360001002"].product_id == default.pk
    assert conn.cursors == {"articles": {"start_time": 1772452800}}

    # Next sync: only articles changed since the last end_time; a full page, then an empty one.
    serve("articles_incremental.json", 1772452800)
    serve("articles_empty.json", 1772500100)
    sync(conn)
    assert [query(c) for c in responses.calls[-2:]] == [
        {"start_time": "1772452800"},
        {"start_time": "1772500100"},
    ]
    rows = articles(conn)
    assert len(rows) == 6 and (rows["360001002"].helpful_votes, rows["360001002"].unhelpful_votes) == (15, 5)
    assert rows["360001006"].product_id == billing.pk
    assert conn.cursors == {"articles": {"start_time": 1772500100}}

    # Re-reading everything is idempotent.
    serve_full()
    conn.cursors = {}
    conn.save()
    sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert KbArticle.objects.count() == 6 and run is not None and run.rows_inserted == 0


@pytest.mark.django_db
@responses.activate
def test_search_terms_from_the_explore_export_feed_the_kb_no_result_series() -> None:
    billing = product("billing-app")
    conn = connection("zendesk_guide", {**CONFIG, "search_export_url": SEARCH_CSV}, SECRETS, product=billing)
    serve("articles_empty.json", START)
    responses.get(SEARCH_CSV, body=text("zendesk_guide", "search_terms.csv"), content_type="text/csv")
    sync(conn)
    rows = {(s.date, s.term): (s.searches, s.no_result_searches) for s in KbSearch.objects.all()}
    assert rows == {
        (date(2026, 3, 2), "export csv"): (41, 0),
        (date(2026, 3, 2), "dark mode"): (17, 17),  # spacing and case folded
        (date(2026, 3, 3), "dark mode"): (9, 9),
        (date(2026, 3, 3), "sso"): (1204, 3),
    }
    serve("articles_empty.json", 1772500100)  # the articles cursor moved to the empty page's end_time
    sync(conn)
    assert KbSearch.objects.count() == 4  # idempotent
    rollups.refresh_feedback_daily({"kb"})  # the recompute after the sync does this before detection
    frame, infos = derived_series([billing.pk])
    sid = f"kb_no_result:{billing.pk}:"
    assert sid in infos
    values = frame[frame["series_id"] == sid].sort_values("ts")["value"].round(4).tolist()
    assert values == [round(17 / 58, 4), round(12 / 1213, 4)]


def test_without_an_export_only_articles_are_synced() -> None:
    assert ZendeskGuideConnector(CONFIG, SECRETS).streams() == ["articles"]
    assert ZendeskGuideConnector({**CONFIG, "search_export_url": SEARCH_CSV}, SECRETS).streams() == [
        "articles",
        "searches",
    ]


def reader(sleeps: list[float]) -> ZendeskGuideConnector:
    connector = ZendeskGuideConnector({**CONFIG, "product_map": {}}, SECRETS)
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_waits_for_retry_after_and_a_503_is_retried() -> None:
    responses.get(
        EXPORT, status=429, json=load("zendesk_guide", "error_429.json"), headers={"Retry-After": "33"}
    )
    responses.get(EXPORT, json=load("zendesk_guide", "articles_page1.json"))
    responses.get(EXPORT, status=503, json=load("zendesk_guide", "error_503.json"))
    responses.get(EXPORT, json=load("zendesk_guide", "articles_page2.json"))
    responses.get(EXPORT, json=load("zendesk_guide", "articles_page3.json"))
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("articles", None))
    assert sleeps == [33.0, 0.5] and sum(len(p.records) for p in pages) == 5


@responses.activate
def test_bad_token_is_permanent_and_check_reports_the_search_export() -> None:
    responses.get(ME, status=401, json=load("zendesk_guide", "error_401.json"))
    responses.get(EXPORT, status=401, json=load("zendesk_guide", "error_401.json"))
    connector = reader([])
    result = connector.check()
    assert (
        not result.ok
        and "Couldn't authenticate you" in result.message
        and SECRETS["api_token"] not in result.message
    )
    with pytest.raises(ConnectorError) as info:
        list(connector.read("articles", None))
    assert info.value.permanent
    responses.replace(responses.GET, ME, json=load("zendesk_guide", "users_me.json"))
    assert "articles and votes only" in reader([]).check().message


def test_in_the_gallery() -> None:
    cls = REGISTRY["zendesk_guide"]
    assert cls.family == "kb" and "votes" in cls.description
