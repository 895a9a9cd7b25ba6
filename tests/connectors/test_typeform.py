"""Typeform connector: form responses with since and before tokens, replayed from vendor-shaped fixtures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.sources.typeform import TypeformConnector
from productops.dashboards.selectors import nps_summary
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import NpsResponse
from productops.signals.pii import respondent_hash

from .signal_helpers import connection, load, product, query, sync, window

FORM = "https://api.typeform.com/forms/u6nXL7"
URL = f"{FORM}/responses"
TOKEN = "tfp_0123456789abcdef"
CONFIG = {
    "region": "us",
    "form_id": "u6nXL7",
    "score_field": "nps_score",
    "comment_field": "nps_reason",
    "start_date": "2026-03-01",
    "product_hidden_field": "product",
    "product_map": {"billing": "billing-app", "mobile": "mobile-app"},
}


@pytest.fixture(autouse=True)
def setup(fake_dns: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns.records["api.typeform.com"] = ["34.120.1.2"]
    monkeypatch.setattr(TypeformConnector, "page_size", 2)


def serve(body: Any, since: str, before: str | None = None) -> None:
    params = {"page_size": "2", "since": since, **({"before": before} if before else {})}
    responses.get(
        URL,
        json=body,
        match=[
            matchers.query_param_matcher(params),
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
        ],
    )


def rows(conn: Any) -> dict[str, NpsResponse]:
    return {r.external_id: r for r in NpsResponse.objects.filter(source_key=conn.source_key)}


@pytest.mark.django_db
@responses.activate
def test_full_sync_walks_before_tokens_then_asks_since_the_newest_through_sync_connection() -> None:
    billing, mobile = product("billing-app"), product("mobile-app")
    conn = connection("typeform", CONFIG, {"token": TOKEN})
    serve(load("typeform", "responses_page1.json"), "2026-03-01T00:00:00")
    serve(load("typeform", "responses_page2.json"), "2026-03-01T00:00:00", before="a4b8d0")
    serve(load("typeform", "responses_page3.json"), "2026-03-01T00:00:00", before="a2f6b8")

    sync(conn)

    got = rows(conn)
    assert sorted(got) == ["a1e5a7", "a3a7c9", "a4b8d0", "a5c9e1"]  # a2f6b8 skipped the score question
    top = got["a5c9e1"]
    assert (top.score, top.comment) == (10, "Love the new reports")
    assert top.segment == {"plan": "pro", "product": "billing", "platform": "mobile"}
    assert top.respondent_hash == respondent_hash("ana@example.com")
    assert top.submitted_at == datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    assert top.product_id == billing.pk and got["a3a7c9"].product_id == mobile.pk
    assert got["a3a7c9"].comment == "" and got["a1e5a7"].product_id is None
    assert conn.cursors == {"responses": {"since": "2026-03-05T10:00:01"}}

    # Second sync: only what was submitted after the newest response seen.
    serve(load("typeform", "responses_new.json"), "2026-03-05T10:00:01")
    serve(load("typeform", "responses_empty.json"), "2026-03-05T10:00:01", before="a6d0f2")
    sync(conn)
    assert [query(c) for c in responses.calls[-2:]] == [
        {"page_size": "2", "since": "2026-03-05T10:00:01"},
        {"page_size": "2", "since": "2026-03-05T10:00:01", "before": "a6d0f2"},
    ]
    got = rows(conn)
    assert len(got) == 6 and got["a7e1g3"].score == 4 and got["a7e1g3"].product_id == mobile.pk
    assert conn.cursors == {"responses": {"since": "2026-03-08T10:00:01"}}

    # A full re-read of the same fixtures writes nothing new.
    serve(load("typeform", "responses_page1.json"), "2026-03-01T00:00:00")
    serve(load("typeform", "responses_page2.json"), "2026-03-01T00:00:00", before="a4b8d0")
    serve(load("typeform", "responses_page3.json"), "2026-03-01T00:00:00", before="a2f6b8")
    conn.cursors = {}
    conn.save()
    sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert run is not None and (run.rows_inserted, run.rows_updated, run.rows_unchanged) == (0, 0, 4)

    # The dashboards: NPS for the billing product in March (scores 10, 2, 8).
    summary = nps_summary(window(date(2026, 3, 1), date(2026, 3, 31), billing))
    assert summary["responses"] == 3 and summary["nps"] == pytest.approx(0.0)
    table = table_queryset(TABLES["nps"], window(date(2026, 3, 1), date(2026, 3, 31), mobile), {})
    assert sorted(r[1] for r in table) == [4, 7]


def reader(sleeps: list[float], token: str = TOKEN, **config: Any) -> TypeformConnector:
    client = HttpClient(sleep=sleeps.append, rand=lambda: 0.5, retry=RetryPolicy(max_attempts=3))
    return TypeformConnector({**CONFIG, "product_map": {}, **config}, {"token": token}, client=client)


@responses.activate
def test_429_honours_retry_after_and_5xx_is_retried() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "1"}, json=load("typeform", "error_429.json"))
    responses.get(URL, json=load("typeform", "responses_page1.json"))
    responses.get(
        URL, status=500, json={"code": "INTERNAL_SERVER_ERROR", "description": "Internal server error"}
    )
    responses.get(URL, json=load("typeform", "responses_page3.json"))
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("responses", None))
    assert sleeps == [1.0, 0.5]
    assert [len(p.records) for p in pages] == [2, 1]


@responses.activate
def test_bad_token_is_permanent() -> None:
    responses.get(FORM, status=401, json=load("typeform", "error_401.json"))
    responses.get(URL, status=401, json=load("typeform", "error_401.json"))
    connector = reader([], token="tfp_wrong_token")
    result = connector.check()
    assert (
        not result.ok and "Check the API token" in result.message and "tfp_wrong_token" not in result.message
    )
    with pytest.raises(ConnectorError) as info:
        list(connector.read("responses", None))
    assert info.value.permanent


@responses.activate
def test_check_validates_the_chosen_field() -> None:
    responses.get(FORM, json=load("typeform", "form.json"))
    assert reader([]).check().message == (
        "Connected to “Product NPS”; scores come from “How likely are you to recommend Acme to a friend?”."
    )
    bad = reader([], score_field="nps_reason").check()
    assert not bad.ok and "nps_score (nps)" in bad.message


def test_in_the_gallery() -> None:
    assert REGISTRY["typeform"].family == "nps"
