"""The HTTP client: retries with backoff and Retry-After, permanent errors, redaction and pagination."""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.base import ConnectorError
from connectors.http import (
    USER_AGENT,
    HttpClient,
    RetryPolicy,
    get_path,
    paginate_cursor,
    paginate_link,
    paginate_offset,
    paginate_page,
    parse_reset_header,
    parse_retry_after,
    redact_url,
)

API = "https://api.example.test"
GH = "https://api.github.com"


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records.update(
        {
            "api.example.test": ["93.184.215.14"],
            "api.github.com": ["140.82.112.6"],
            "cdn.example.net": ["151.101.1.1"],
        }
    )
    return fake_dns


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleeps: Sleeps | None = None, **kwargs: Any) -> HttpClient:
    kwargs.setdefault("rand", lambda: 0.5)
    return HttpClient(sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)


# --- retries ------------------------------------------------------------------------------------


@responses.activate
def test_a_500_then_a_200_is_retried_once_with_jittered_backoff() -> None:
    responses.add(responses.GET, f"{API}/items", status=500, json={"error": "boom"})
    responses.add(responses.GET, f"{API}/items", json={"items": [1]})
    sleeps = Sleeps()
    assert client(sleeps).get_json(f"{API}/items") == {"items": [1]}
    assert sleeps == [0.5]  # full jitter: rand() * min(cap, base * 2**0)
    assert len(responses.calls) == 2


@responses.activate
def test_429_with_retry_after_seconds_is_honoured() -> None:
    responses.add(responses.GET, f"{API}/items", status=429, headers={"Retry-After": "7"})
    responses.add(responses.GET, f"{API}/items", json=[])
    sleeps = Sleeps()
    client(sleeps).get_json(f"{API}/items")
    assert sleeps == [7.0]


@responses.activate
def test_429_with_retry_after_as_an_http_date_is_honoured() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    responses.add(responses.GET, f"{API}/items", status=429, headers={"Retry-After": when})
    responses.add(responses.GET, f"{API}/items", json=[])
    sleeps = Sleeps()
    client(sleeps).get_json(f"{API}/items")
    # The HTTP-date has whole seconds; however long the call took, the wait ends at that date.
    at = email.utils.parsedate_to_datetime(when).timestamp()
    assert len(sleeps) == 1 and at - time.time() - 1 <= sleeps[0] <= 30


@responses.activate
def test_github_rate_limit_403_waits_for_x_ratelimit_reset() -> None:
    reset = int(time.time()) + 60
    responses.add(
        responses.GET,
        f"{GH}/repos/acme/app/issues",
        status=403,
        json={
            "message": "API rate limit exceeded for user ID 1.",
            "documentation_url": "https://docs.github.com",
        },
        headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    responses.add(responses.GET, f"{GH}/repos/acme/app/issues", json=[])
    sleeps = Sleeps()
    client(sleeps, reset_headers=("X-RateLimit-Reset",)).get_json(f"{GH}/repos/acme/app/issues")
    assert len(sleeps) == 1 and 57 <= sleeps[0] <= 60


@responses.activate
def test_timeouts_and_connection_resets_are_retried() -> None:
    responses.add(responses.GET, f"{API}/items", body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add(responses.GET, f"{API}/items", body=requests.exceptions.ConnectionError("reset by peer"))
    responses.add(responses.GET, f"{API}/items", body=requests.exceptions.ChunkedEncodingError("ended early"))
    responses.add(responses.GET, f"{API}/items", json={"ok": 1})
    sleeps = Sleeps()
    assert client(sleeps).get_json(f"{API}/items") == {"ok": 1}
    assert sleeps == [0.5, 1.0, 2.0]


@responses.activate
def test_malformed_or_truncated_json_is_retried_then_fails_transient() -> None:
    responses.add(
        responses.GET, f"{API}/items", body='{"items": [{"id": 1}, {"id"', content_type="application/json"
    )
    sleeps = Sleeps()
    with pytest.raises(ConnectorError, match="truncated or malformed JSON") as info:
        client(sleeps, retry=RetryPolicy(max_attempts=3)).get_json(f"{API}/items")
    assert info.value.permanent is False
    assert len(responses.calls) == 3 and len(sleeps) == 2


@responses.activate
def test_attempts_are_capped_and_backoff_grows_to_the_cap() -> None:
    responses.add(responses.GET, f"{API}/items", status=503)
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=10.0)
    with pytest.raises(ConnectorError, match="HTTP 503; gave up after 6 attempt") as info:
        client(sleeps, retry=policy, rand=lambda: 1.0).get_json(f"{API}/items")
    assert not info.value.permanent
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert len(responses.calls) == 6


@responses.activate
def test_a_retry_after_longer_than_the_limit_fails_the_run_and_carries_retry_after() -> None:
    responses.add(responses.GET, f"{API}/items", status=429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as info:
        client(sleeps).get_json(f"{API}/items")
    assert info.value.permanent is False and info.value.retry_after == 3600.0
    assert sleeps == [] and len(responses.calls) == 1


# --- permanent errors ---------------------------------------------------------------------------


@responses.activate
def test_401_is_permanent_and_says_to_check_the_token() -> None:
    responses.add(
        responses.GET,
        f"{GH}/user",
        status=401,
        json={"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
    )
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as info:
        client(sleeps, headers={"Authorization": "Bearer ghp_supersecret123"}).get_json(f"{GH}/user")
    assert info.value.permanent
    assert "Bad credentials" in info.value.message and "Check the API token" in info.value.message
    assert "ghp_supersecret123" not in info.value.message
    assert sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_403_without_rate_limit_headers_is_permanent() -> None:
    responses.add(responses.GET, f"{GH}/orgs/acme", status=403, json={"message": "Resource not accessible"})
    with pytest.raises(ConnectorError, match="lack permission") as info:
        client().get_json(f"{GH}/orgs/acme")
    assert info.value.permanent


@responses.activate
def test_other_4xx_are_permanent_with_the_vendor_body_summarised_and_secrets_removed() -> None:
    responses.add(
        responses.GET,
        f"{API}/items",
        status=422,
        json={"error": "Invalid\n  filter   for token tok_ABCDEF123456", "code": 42},
    )
    with pytest.raises(ConnectorError) as info:
        client(headers={"X-Api-Key": "tok_ABCDEF123456"}, secret_headers=("X-Api-Key",)).get_json(
            f"{API}/items?api_key=tok_ABCDEF123456"
        )
    message = info.value.message
    assert info.value.permanent and "HTTP 422" in message and "Invalid filter for token [redacted]" in message
    assert "tok_ABCDEF123456" not in message


@responses.activate
def test_404_suggests_checking_the_url() -> None:
    responses.add(responses.GET, f"{API}/nope", status=404, body="<html>Not Found</html>")
    with pytest.raises(ConnectorError, match=r"HTTP 404.*Check the URL") as info:
        client().get_json(f"{API}/nope")
    assert info.value.permanent


# --- headers, timeouts, redaction ---------------------------------------------------------------


@responses.activate
def test_user_agent_and_timeouts_are_sent() -> None:
    responses.add(
        responses.GET, f"{API}/items", json=[], match=[matchers.header_matcher({"User-Agent": USER_AGENT})]
    )
    client(timeout=(3.0, 17.0)).get_json(f"{API}/items")
    assert USER_AGENT.startswith("productops/")
    assert responses.calls[0].request.req_kwargs["timeout"] == (3.0, 17.0)  # type: ignore[attr-defined]


@responses.activate
def test_retry_logs_never_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    responses.add(responses.GET, f"{API}/items", status=502)
    responses.add(responses.GET, f"{API}/items", json=[])
    with caplog.at_level(logging.DEBUG):
        client(headers={"Authorization": "Bearer s3cr3t-token-value"}).get_json(
            f"{API}/items?access_token=s3cr3t-query-value&page=2"
        )
    assert "http retry" in caplog.text and "page=2" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_redact_url() -> None:
    assert (
        redact_url("https://u:p@x.test/a?token=abc&page=2&API_KEY=k")
        == "https://***@x.test/a?token=***&page=2&API_KEY=***"
    )


@responses.activate
def test_cross_origin_redirect_drops_credentials_but_same_origin_keeps_them() -> None:
    responses.add(responses.GET, f"{API}/export", status=302, headers={"Location": f"{API}/export/2"})
    responses.add(
        responses.GET,
        f"{API}/export/2",
        status=302,
        headers={"Location": "https://cdn.example.net/file.json"},
    )
    responses.add(responses.GET, "https://cdn.example.net/file.json", json={"rows": []})
    headers = {"Authorization": "Bearer abc", "PRIVATE-TOKEN": "glpat-xyz"}
    client(headers=headers, secret_headers=("Authorization", "PRIVATE-TOKEN")).get_json(f"{API}/export")
    same, cross = responses.calls[1].request.headers, responses.calls[2].request.headers
    assert same["Authorization"] == "Bearer abc" and same["PRIVATE-TOKEN"] == "glpat-xyz"
    assert "Authorization" not in cross and "PRIVATE-TOKEN" not in cross


# --- Retry-After parsing ------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now) == pytest.approx(90, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_parse_reset_header_takes_seconds_or_epoch() -> None:
    now = 1_700_000_000.0
    assert parse_reset_header("30", now) == 30.0  # IETF RateLimit-Reset: seconds
    assert parse_reset_header(str(int(now) + 45), now) == 45.0  # GitHub: epoch seconds
    assert parse_reset_header(str(int(now * 1000) + 5000), now) == pytest.approx(5.0)


# --- pagination ---------------------------------------------------------------------------------


def _gh_issue(n: int) -> dict[str, Any]:
    return {"id": 1000 + n, "number": n, "title": f"Issue {n}", "state": "open", "labels": []}


@responses.activate
def test_paginate_link_follows_rel_next() -> None:
    url = f"{GH}/repos/acme/app/issues"
    responses.add(
        responses.GET,
        url,
        json=[_gh_issue(1), _gh_issue(2)],
        headers={"Link": f'<{url}?page=2>; rel="next", <{url}?page=3>; rel="last"'},
        match=[matchers.query_param_matcher({"per_page": "2"})],
    )
    responses.add(
        responses.GET,
        f"{url}?page=2",
        json=[_gh_issue(3), _gh_issue(4)],
        headers={"Link": f'<{url}?page=1>; rel="prev", <{url}?page=3>; rel="next"'},
    )
    responses.add(
        responses.GET, f"{url}?page=3", json=[_gh_issue(5)], headers={"Link": f'<{url}?page=2>; rel="prev"'}
    )
    pages = list(paginate_link(client(), url, params={"per_page": 2}))
    assert [[i["number"] for i in p] for p, _ in pages] == [[1, 2], [3, 4], [5]]
    assert [state for _, state in pages] == [f"{url}?page=2", f"{url}?page=3", None]


@responses.activate
def test_paginate_link_refuses_a_next_link_to_another_host() -> None:
    url = f"{API}/v1/items"
    responses.add(
        responses.GET, url, json=[1], headers={"Link": '<https://cdn.example.net/steal?page=2>; rel="next"'}
    )
    pages = paginate_link(client(headers={"Authorization": "Bearer abc"}), url)
    assert next(pages)[0] == [1]
    with pytest.raises(ConnectorError, match="another host") as info:
        next(pages)
    assert info.value.permanent and len(responses.calls) == 1


@responses.activate
def test_paginate_cursor_sends_the_cursor_back_until_it_is_empty() -> None:
    url = f"{API}/v1/responses"
    responses.add(
        responses.GET,
        url,
        json={"data": [1, 2], "meta": {"next_cursor": "c2"}},
        match=[matchers.query_param_matcher({})],
    )
    responses.add(
        responses.GET,
        url,
        json={"data": [3], "meta": {"next_cursor": "c3"}},
        match=[matchers.query_param_matcher({"cursor": "c2"})],
    )
    responses.add(
        responses.GET,
        url,
        json={"data": [], "meta": {"next_cursor": None}},
        match=[matchers.query_param_matcher({"cursor": "c3"})],
    )
    pages = list(paginate_cursor(client(), url, cursor_path="meta.next_cursor"))
    assert [(p["data"], s) for p, s in pages] == [([1, 2], "c2"), ([3], "c3"), ([], None)]


@responses.activate
def test_paginate_cursor_stops_when_the_server_repeats_a_cursor() -> None:
    url = f"{API}/v1/loop"
    responses.add(responses.GET, url, json={"data": [1], "next": "same"})
    pages = list(paginate_cursor(client(), url, cursor_path="next", start="same"))
    assert len(pages) == 1 and pages[0][1] is None


@responses.activate
def test_paginate_offset_and_page() -> None:
    url = f"{API}/v1/items"
    for offset, items in ((0, [1, 2]), (2, [3, 4]), (4, [5])):
        responses.add(
            responses.GET,
            url,
            json={"results": items},
            match=[matchers.query_param_matcher({"offset": str(offset), "limit": "2"})],
        )
    pages = list(paginate_offset(client(), url, records_path="results", limit=2))
    assert [(p["results"], s) for p, s in pages] == [([1, 2], 2), ([3, 4], 4), ([5], None)]

    responses.reset()
    for page, items in ((1, [1, 2]), (2, [3, 4]), (3, [])):
        responses.add(
            responses.GET,
            url,
            json={"results": items},
            match=[matchers.query_param_matcher({"page": str(page), "per_page": "2"})],
        )
    pages2 = list(paginate_page(client(), url, records_path="results", page_size=2))
    assert [(p["results"], s) for p, s in pages2] == [([1, 2], 2), ([3, 4], 3), ([], None)]


def test_get_path() -> None:
    doc = {"data": {"items": [{"id": 1}, {"id": 2}]}, "x": None}
    assert get_path(doc, "data.items.1.id") == 2
    assert get_path(doc, "data.missing", "d") == "d"
    assert get_path(doc, "") is doc
    assert get_path(doc, "data.items.5.id") is None


def test_a_real_body_that_ends_halfway_is_retried_then_fails_transient(
    settings: Any, fake_dns: Any, start_raw_server: Any
) -> None:
    """A real server promises 500 bytes and sends 20: urllib3's IncompleteRead becomes a transient error."""
    port = start_raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        b'{"items": [{"id": 1}'
    )
    settings.CONNECTOR_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    fake_dns.records["half.corp.test"] = ["127.0.0.1"]
    sleeps = Sleeps()
    with pytest.raises(ConnectorError, match="ended early; gave up after 3") as info:
        client(sleeps, retry=RetryPolicy(max_attempts=3)).get_json(f"http://half.corp.test:{port}/items")
    assert info.value.permanent is False and len(sleeps) == 2
