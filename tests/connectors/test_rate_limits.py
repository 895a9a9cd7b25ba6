"""Retry and rate-limit semantics, per vendor, with headers and bodies exactly as each vendor documents them.

Each row builds the real connector's HTTP client (its reset headers and rate-limit hooks) and answers its
first request with the vendor's documented response, then a 200. Expected:
- ("wait", s): the client waits s seconds (±2) for the documented Retry-After / reset, then retries;
- ("backoff",): a 5xx or an unexplained 429 backs off from about a second, whatever reset headers say;
- ("requeue", s): the wait is longer than the client sleeps in-process, so it raises a rate-limited
  ConnectorError carrying retry_after=s for the sync loop to requeue (or fail beyond CONNECTOR_RETRY_CAP).

Sources (vendor docs, read with the search tool):
- GitHub: docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api (x-ratelimit-remaining 0 +
  x-ratelimit-reset epoch; secondary limits: retry-after, else wait at least a minute)
- GitLab: docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html (429, Retry-After,
  RateLimit-Remaining, RateLimit-Reset epoch, RateLimit-ResetTime); gitlab-org/gitlab#199738 (a 429 whose
  RateLimit-Remaining is not 0)
- Jira Cloud: developer.atlassian.com/cloud/jira/platform/rate-limiting (429 + Retry-After seconds,
  X-RateLimit-Reset as ISO 8601 yyyy-MM-ddTHH:mmZ; some 503s carry Retry-After)
- Jira Data Center: confluence.atlassian.com/adminjiraserver/adjusting-your-code-for-rate-limiting (429 +
  Retry-After, X-RateLimit-Remaining)
- Linear: linear.app/developers/rate-limiting (GraphQL error extensions.code RATELIMITED; X-RateLimit-
  Requests-Remaining/-Reset and X-RateLimit-Complexity-Remaining/-Reset, resets in epoch milliseconds)
- Zendesk: developer.zendesk.com/api-reference/introduction/rate-limits (429 + Retry-After seconds;
  ratelimit-remaining / ratelimit-reset seconds and X-Rate-Limit-Remaining on every response)
- Intercom: developers.intercom.com/docs/references/rest-api/errors/rate-limiting (429, X-RateLimit-
  Remaining 0, X-RateLimit-Reset UNIX timestamp, error code rate_limit_exceeded)
- LaunchDarkly: launchdarkly.com/docs/api#rate-limiting (429, X-Ratelimit-Global-Remaining,
  X-Ratelimit-Route-Remaining, X-Ratelimit-Reset epoch ms; Retry-After on IP-based limits)
- Reddit: github.com/reddit-archive/reddit/wiki/API (X-Ratelimit-Used/-Remaining (a float)/-Reset seconds)
- Amplitude, Mixpanel, Typeform: 429 with no rate-limit headers documented
- PostHog: posthog.com/docs/api#rate-limiting (429, DRF throttling: Retry-After, "Request was throttled")
- Delighted: app.delighted.com/docs/api#rate-limits (429 + Retry-After seconds)
- GrowthBook: docs.growthbook.io/api (429; RateLimit-* headers, RateLimit-Reset seconds)
- HackerNews (Algolia HN Search API): 429 with no documented headers
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses

from connectors.base import REGISTRY, ConnectorError

HOST = "api.vendor.test"
URL = f"https://{HOST}/v1/items"


def materialise(headers: dict[str, str]) -> dict[str, str]:
    """Turn "@epoch:40", "@ms:20", "@iso:12", "@http:20" into times that many seconds from now."""
    now = time.time()
    out = {}
    for name, value in headers.items():
        if value.startswith("@"):
            form, seconds = value[1:].split(":")
            at = now + float(seconds)
            value = {
                "epoch": str(round(at)),
                "ms": str(int(at * 1000)),
                "iso": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(at)),
                "http": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(at)),
            }[form]
        out[name] = value
    return out


GITHUB_PRIMARY = {
    "message": "API rate limit exceeded for user ID 1.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
GITHUB_SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
}
LINEAR_RATELIMITED = {
    "errors": [
        {
            "message": "Rate limit exceeded",
            "extensions": {
                "code": "RATELIMITED",
                "type": "ratelimited",
                "userPresentableMessage": "Rate limit exceeded",
            },
        }
    ]
}

CASES: list[tuple[str, str, int, dict[str, str], Any, tuple[Any, ...]]] = [
    # GitHub
    (
        "github primary 403, remaining 0",
        "github",
        403,
        {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Reset": "@epoch:40",
            "X-RateLimit-Resource": "core",
        },
        GITHUB_PRIMARY,
        ("wait", 40),
    ),
    (
        "github primary 429, remaining 0",
        "github",
        429,
        {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "@epoch:25"},
        GITHUB_PRIMARY,
        ("wait", 25),
    ),
    (
        "github secondary 403 with retry-after",
        "github",
        403,
        {"Retry-After": "30", "X-RateLimit-Remaining": "4321", "X-RateLimit-Reset": "@epoch:3000"},
        GITHUB_SECONDARY,
        ("wait", 30),
    ),
    (
        "github secondary 403, no retry-after: at least a minute",
        "github",
        403,
        {"X-RateLimit-Remaining": "4321", "X-RateLimit-Reset": "@epoch:3000"},
        GITHUB_SECONDARY,
        ("wait", 60),
    ),
    (
        "github 502 with a reset 42 min away",
        "github",
        502,
        {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4970", "X-RateLimit-Reset": "@epoch:2520"},
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ("backoff",),
    ),
    (
        "github primary reset beyond the in-process wait",
        "github",
        403,
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "@epoch:1800"},
        GITHUB_PRIMARY,
        ("requeue", 1800),
    ),
    # GitLab
    (
        "gitlab 429 with retry-after",
        "gitlab",
        429,
        {
            "Retry-After": "20",
            "RateLimit-Limit": "600",
            "RateLimit-Observed": "601",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": "@epoch:20",
            "RateLimit-ResetTime": "@http:20",
        },
        {"message": "Retry later"},
        ("wait", 20),
    ),
    (
        "gitlab 429 without retry-after, remaining not 0",
        "gitlab",
        429,
        {
            "RateLimit-Limit": "600",
            "RateLimit-Observed": "5",
            "RateLimit-Remaining": "595",
            "RateLimit-Reset": "@epoch:45",
        },
        {"message": {"error": "This endpoint has been requested too many times. Try again later."}},
        ("wait", 45),
    ),
    (
        "gitlab 503 with rate-limit headers",
        "gitlab",
        503,
        {"RateLimit-Remaining": "500", "RateLimit-Reset": "@epoch:50"},
        {"message": "503 Service Unavailable"},
        ("backoff",),
    ),
    # Jira Cloud
    (
        "jira cloud 429 with retry-after",
        "jira_cloud",
        429,
        {
            "Retry-After": "12",
            "X-RateLimit-Reset": "@iso:12",
            "X-RateLimit-Limit": "350",
            "X-RateLimit-Remaining": "0",
            "RateLimit-Reason": "jira-burst-based",
        },
        {"errorMessages": ["Rate limit exceeded."]},
        ("wait", 12),
    ),
    (
        "jira cloud 429 with only an ISO reset, 2 h away",
        "jira_cloud",
        429,
        {"X-RateLimit-Reset": "@iso:7200", "RateLimit-Reason": "jira-quota-global-based"},
        {"errorMessages": ["Rate limit exceeded."]},
        ("requeue", 7200),
    ),
    (
        "jira cloud 503 with retry-after",
        "jira_cloud",
        503,
        {"Retry-After": "5"},
        {"errorMessages": ["Service unavailable"]},
        ("wait", 5),
    ),
    # Jira Data Center
    (
        "jira dc 429 with retry-after",
        "jira_dc",
        429,
        {
            "Retry-After": "8",
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Interval-Seconds": "1",
            "X-RateLimit-FillRate": "10",
        },
        {"message": "Rate limit exceeded"},
        ("wait", 8),
    ),
    # Linear: HTTP 400 with RATELIMITED; the spent window (requests) decides, not the complexity one
    (
        "linear RATELIMITED, requests window spent",
        "linear",
        400,
        {
            "X-RateLimit-Requests-Limit": "1500",
            "X-RateLimit-Requests-Remaining": "0",
            "X-RateLimit-Requests-Reset": "@ms:20",
            "X-RateLimit-Complexity-Limit": "250000",
            "X-RateLimit-Complexity-Remaining": "240000",
            "X-RateLimit-Complexity-Reset": "@ms:3000",
        },
        LINEAR_RATELIMITED,
        ("wait", 20),
    ),
    (
        "linear 500 with reset headers",
        "linear",
        500,
        {"X-RateLimit-Requests-Remaining": "1400", "X-RateLimit-Requests-Reset": "@ms:3000"},
        {"errors": [{"message": "Internal server error"}]},
        ("backoff",),
    ),
    # Zendesk
    (
        "zendesk 429 with retry-after",
        "zendesk",
        429,
        {
            "Retry-After": "7",
            "X-Rate-Limit": "700",
            "X-Rate-Limit-Remaining": "0",
            "ratelimit-limit": "10",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "7",
        },
        "Number of allowed incremental export API requests per minute exceeded",
        ("wait", 7),
    ),
    (
        "zendesk 500 with a window reset",
        "zendesk",
        500,
        {
            "X-Rate-Limit": "700",
            "X-Rate-Limit-Remaining": "699",
            "ratelimit-remaining": "9",
            "ratelimit-reset": "41",
        },
        {"error": "InternalError"},
        ("backoff",),
    ),
    # Intercom
    (
        "intercom 429",
        "intercom",
        429,
        {"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "@epoch:9"},
        {
            "type": "error.list",
            "request_id": "b0c4",
            "errors": [
                {"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 167 in 10_seconds"}
            ],
        },
        ("wait", 9),
    ),
    # LaunchDarkly
    (
        "launchdarkly 429, route window spent",
        "launchdarkly",
        429,
        {
            "X-Ratelimit-Global-Remaining": "120",
            "X-Ratelimit-Route-Remaining": "0",
            "X-Ratelimit-Reset": "@ms:15",
        },
        {"code": "rate_limited", "message": "Rate limit exceeded"},
        ("wait", 15),
    ),
    (
        "launchdarkly 429 IP limit with retry-after",
        "launchdarkly",
        429,
        {"Retry-After": "4"},
        {"code": "rate_limited", "message": "Rate limit exceeded"},
        ("wait", 4),
    ),
    # Reddit
    (
        "reddit 429",
        "reddit",
        429,
        {"X-Ratelimit-Used": "100", "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "33"},
        {"message": "Too Many Requests", "error": 429},
        ("wait", 33),
    ),
    # No documented headers: back off
    (
        "amplitude 429",
        "amplitude",
        429,
        {},
        {"error": {"message": "Exceeded rate limit with query of cost 1440"}},
        ("backoff",),
    ),
    (
        "mixpanel 429",
        "mixpanel",
        429,
        {},
        {"error": "Query rate limit exceeded", "status": "error"},
        ("backoff",),
    ),
    (
        "typeform 429",
        "typeform",
        429,
        {},
        {"code": "TOO_MANY_REQUESTS", "description": "Too many requests"},
        ("backoff",),
    ),
    ("hackernews 429", "hackernews", 429, {}, {"message": "Too many requests"}, ("backoff",)),
    # Retry-After vendors
    (
        "posthog 429",
        "posthog",
        429,
        {"Retry-After": "12"},
        {
            "type": "throttled_error",
            "code": "throttled",
            "detail": "Request was throttled. Expected available in 12 seconds.",
            "attr": None,
        },
        ("wait", 12),
    ),
    (
        "delighted 429",
        "delighted",
        429,
        {"Retry-After": "3"},
        {"status": 429, "message": "Too Many Requests"},
        ("wait", 3),
    ),
    (
        "growthbook 429",
        "growthbook",
        429,
        {"RateLimit-Limit": "60", "RateLimit-Remaining": "0", "RateLimit-Reset": "30"},
        {"message": "Too many requests, please try again later."},
        ("wait", 30),
    ),
]

CONFIG = {
    "subdomain": "acme",
    "email": "ops@acme.example",
    "site": f"https://{HOST}",
    "base_url": f"https://{HOST}",
    "url": f"https://{HOST}",
    "api_url": f"https://{HOST}",
    "host": f"https://{HOST}",
    "project_id": "1",
    "region": "us",
    "user_agent": "productops-test/1.0",
}
SECRETS = {
    k: "s3cr3t-value-123"
    for k in (
        "token",
        "api_token",
        "api_key",
        "secret_key",
        "access_token",
        "client_secret",
        "password",
        "personal_api_key",
        "secret",
    )
}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records[HOST] = ["93.184.215.14"]
    return fake_dns


def vendor_client(kind: str) -> Any:
    connector = REGISTRY[kind](dict(CONFIG), dict(SECRETS))
    client = connector.client  # type: ignore[attr-defined]
    client.sleep = Sleeps()
    client.rand = lambda: 0.5
    return client


@pytest.mark.parametrize(
    ("name", "kind", "status", "headers", "body", "expect"), CASES, ids=[c[0] for c in CASES]
)
@responses.activate
def test_vendor_rate_limits(
    name: str, kind: str, status: int, headers: dict[str, str], body: Any, expect: tuple[Any, ...]
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    method = "POST" if kind == "linear" else "GET"
    materialised_at = time.time()
    responses.add(
        method, URL, status=status, headers=materialise(headers), body=text, content_type="application/json"
    )
    responses.add(method, URL, json={"data": {"ok": True}, "items": []})
    client = vendor_client(kind)
    started = time.monotonic()
    if expect[0] == "requeue":
        with pytest.raises(ConnectorError) as info:
            client.request(method, URL, expect_json=True)
        error = info.value
        assert not error.permanent and error.rate_limited
        assert error.retry_after == pytest.approx(expect[1], abs=61)  # ISO resets have minute precision
        assert client.sleep == [] and len(responses.calls) == 1
        return
    client.request(method, URL, expect_json=True)
    assert len(responses.calls) == 2
    assert len(client.sleep) == 1
    waited = client.sleep[0]
    if expect[0] == "wait":
        lag = time.time() - materialised_at  # a slow machine's time between writing the header and reading it
        assert expect[1] - 2 - lag <= waited <= expect[1] + 2, f"{name}: waited {waited}s"
    else:
        assert waited <= 2.0, f"{name}: a transient failure must back off from seconds, waited {waited}s"
    assert time.monotonic() - started < 5  # the injected sleep: nothing really waited


@responses.activate
def test_github_502_with_reset_retries_within_seconds_through_the_connector() -> None:
    """Issue 18: a GitHub 502 carrying X-RateLimit-Reset 42 minutes away retried at the reset."""
    responses.add(
        "GET",
        URL,
        status=502,
        headers={
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4970",
            "X-RateLimit-Reset": "@epoch:2520",
        },
        body="Server Error",
    )
    responses.add("GET", URL, json=[])
    client = vendor_client("github")
    client.get_json(URL)
    assert len(client.sleep) == 1 and client.sleep[0] < 2


@pytest.mark.parametrize("kind", sorted({c[1] for c in CASES}))
def test_every_vendor_is_covered(kind: str) -> None:
    assert kind in REGISTRY


# --- The sync loop: Retry-After capped by CONNECTOR_RETRY_CAP -----------------------------------


@pytest.fixture
def desk(db: Any, fake_dns: Any) -> Any:
    import tests.connectors.sources  # noqa: F401
    from connectors.models import Connection

    connection = Connection.objects.create(
        name="Capped desk",
        kind="zendesk_tickets_test",
        schedule_kind="manual",
        config={"subdomain": "acme", "email": "ops@acme.example"},
    )
    connection.set_secrets({"api_token": "tok-123456"})
    connection.save()
    return connection


@responses.activate
def test_a_retry_after_beyond_the_cap_fails_the_run_with_the_reason_and_frees_sync_now(
    desk: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from connectors.models import RunStatus, SyncRun
    from connectors.sync import run_sync, sync_now

    settings.CONNECTOR_RETRY_CAP = 600
    export = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"
    responses.add(responses.GET, export, status=429, headers={"Retry-After": "100000"})
    result = run_sync(desk.pk, trigger="cli")
    assert result.outcome == "failed" and result.retry_in is None
    run = SyncRun.objects.get(connection=desk)
    assert run.status == RunStatus.FAILED and "CONNECTOR_RETRY_CAP" in run.error_message
    assert "rate-limited" in run.error_message  # the source's reason is shown
    desk.refresh_from_db()
    assert desk.enabled  # not paused: the next scheduled sync tries again
    with django_capture_on_commit_callbacks() as callbacks:
        queued, outcome = sync_now(desk)  # nothing blocks "Sync now"
    assert outcome == "queued" and queued is not None and len(callbacks) == 1


@responses.activate
def test_a_retry_after_within_the_cap_requeues_at_that_time_and_sync_now_says_why(
    desk: Any, settings: Any
) -> None:
    from connectors.models import RunStatus, SyncRun
    from connectors.sync import run_sync, sync_now

    settings.CONNECTOR_RETRY_CAP = 600
    export = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"
    responses.add(responses.GET, export, status=429, headers={"Retry-After": "240"})
    result = run_sync(desk.pk, trigger="cli")
    assert result.outcome == "retry" and result.retry_in is not None and 240 <= result.retry_in <= 600
    run = SyncRun.objects.get(connection=desk)
    assert run.status == RunStatus.QUEUED and run.retry_at is not None
    assert "Retrying at" in run.error_message
    same, outcome = sync_now(desk)
    assert same is not None and same.pk == run.pk and outcome in ("rate_limited", "nudged")
