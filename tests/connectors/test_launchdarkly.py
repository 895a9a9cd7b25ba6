"""LaunchDarkly connector: flags of a project/environment and their audit-log history, from fixtures."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources.launchdarkly import LaunchDarklyConnector
from productops.dashboards.tables import TABLES, table_queryset
from productops.signals.models import FeatureFlag, FlagChange

from .signal_helpers import connection, load, product, query, sync, window

BASE = "https://app.launchdarkly.com"
FLAGS = f"{BASE}/api/v2/flags/default"
AUDIT = f"{BASE}/api/v2/auditlog"
SPEC = "proj/default:env/production:flag/*"
START_MS = 1772323200000  # 2026-03-01
CONFIG = {
    "project_key": "default",
    "environment_key": "production",
    "start_date": "2026-03-01",
    "page_size": 2,
    "product_map": {"checkout": "web-app", "mobile": "mobile-app"},
}
SECRETS = {"access_token": "api-5b1d7e2c-0000-4c3e-9d7a-2f6b3c1a9e88"}
AUTH = {"Authorization": SECRETS["access_token"], "LD-API-Version": "20240415"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["app.launchdarkly.com"] = ["52.22.104.26"]
    return fake_dns


def link(payload: dict[str, Any]) -> str:
    return BASE + payload["_links"]["next"]["href"]


def serve_flags(first: str = "flags_page1.json") -> None:
    p1 = load("launchdarkly", first)
    responses.get(
        FLAGS,
        json=p1,
        match=[
            matchers.query_param_matcher({"env": "production", "summary": "0", "limit": "2"}),
            matchers.header_matcher(AUTH),
        ],
    )
    if "next" in p1["_links"]:
        p2 = load("launchdarkly", "flags_page2.json")
        responses.get(link(p1), json=p2, match=[matchers.header_matcher(AUTH)])
        responses.get(
            link(p2), json=load("launchdarkly", "flags_page3.json"), match=[matchers.header_matcher(AUTH)]
        )


def serve_audit(after: int, first: str) -> None:
    p1 = load("launchdarkly", first)
    responses.get(
        AUDIT,
        json=p1,
        match=[
            matchers.query_param_matcher(
                {"spec": SPEC, "after": str(after), "limit": "20"}, strict_match=True
            )
        ],
    )
    if "next" in p1["_links"]:
        p2 = load("launchdarkly", "auditlog_page2.json")
        responses.get(link(p1), json=p2)
        responses.get(link(p2), json=load("launchdarkly", "auditlog_page3.json"))


def flags(conn: Any) -> dict[str, FeatureFlag]:
    return {f.key: f for f in FeatureFlag.objects.filter(source_key=conn.source_key)}


def changes(key: str) -> list[tuple[str, bool | None, str]]:
    return [
        (c.changed_at.isoformat(), c.enabled, c.description)
        for c in FlagChange.objects.filter(flag__key=key).order_by("changed_at")
    ]


@pytest.mark.django_db
@responses.activate
def test_flags_and_history_full_then_incremental_then_idempotent() -> None:
    web, mobile = product("web-app"), product("mobile-app")
    conn = connection("launchdarkly", CONFIG, SECRETS)
    serve_flags()
    serve_audit(START_MS, "auditlog_page1.json")

    sync(conn)

    rows = flags(conn)
    assert sorted(rows) == ["android-push", "dark-mode", "legacy-export", "new-checkout", "pricing-page"]
    assert [(k, rows[k].enabled, rows[k].rollout_pct) for k in sorted(rows)] == [
        ("android-push", True, 0.0),  # on, but the default rule serves false
        ("dark-mode", True, 100.0),
        ("legacy-export", False, 0.0),
        ("new-checkout", True, 25.0),  # 25000 thousandths of a percent serve true
        ("pricing-page", True, 50.0),  # multivariate: everything but the off variation
    ]
    checkout = rows["new-checkout"]
    assert checkout.name == "New checkout" and checkout.product_id == web.pk
    assert checkout.updated_at_source == datetime(2026, 3, 2, 8, 26, 40, tzinfo=UTC)
    assert rows["android-push"].product_id == mobile.pk and rows["dark-mode"].product_id is None
    assert changes("new-checkout") == [
        ("2026-03-02T05:40:00+00:00", True, "turned on the flag New checkout"),
        ("2026-03-02T08:26:40+00:00", None, "updated the flag New checkout"),
    ]
    assert changes("legacy-export") == [
        ("2026-03-02T02:53:20+00:00", False, "turned off the flag Legacy export")
    ]
    assert FlagChange.objects.count() == 5
    assert not FlagChange.objects.filter(description__contains="@").exists()  # no member e-mails kept
    assert conn.cursors == {"flags": None, "changes": {"after": 1772450000000}}

    # Next sync: the flags are re-listed (no "since" filter exists), the audit log is asked only for
    # entries after the newest one seen; new-checkout was turned off.
    serve_flags("flags_all_after_change.json")
    serve_audit(1772450000000, "auditlog_incremental.json")
    sync(conn)
    audit_calls = [c for c in responses.calls if str(c.request.url).startswith(AUDIT)]
    assert query(audit_calls[-1]) == {"spec": SPEC, "after": "1772450000000", "limit": "20"}
    checkout = flags(conn)["new-checkout"]
    assert (checkout.enabled, checkout.rollout_pct) == (False, 0.0)
    assert changes("new-checkout")[-1] == (
        "2026-03-03T01:06:40+00:00",
        False,
        "turned off the flag New checkout",
    )
    run = conn.runs.order_by("-pk").first()
    assert run is not None and (run.rows_inserted, run.rows_updated) == (1, 1)  # the new change; the flag
    assert conn.cursors["changes"] == {"after": 1772500000000}

    # Nothing new: the history holds.
    serve_flags("flags_all_after_change.json")
    serve_audit(1772500000000, "auditlog_empty.json")
    sync(conn)
    assert FlagChange.objects.count() == 6 and conn.cursors["changes"] == {"after": 1772500000000}

    # A full re-read is idempotent.
    serve_flags("flags_all_after_change.json")
    serve_audit(START_MS, "auditlog_page1.json")
    conn.cursors = {}
    conn.save()
    sync(conn)
    assert FeatureFlag.objects.count() == 5 and FlagChange.objects.count() == 6
    run = conn.runs.order_by("-pk").first()
    assert run is not None and run.rows_inserted == 0

    # The dashboards' flag-changes table shows the history.
    qs = table_queryset(TABLES["flag-changes"], window(date(2026, 3, 1), date(2026, 3, 31)), {})
    assert len(list(qs)) == 6


def reader(sleeps: list[float]) -> LaunchDarklyConnector:
    connector = LaunchDarklyConnector({**CONFIG, "product_map": {}}, SECRETS)
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_waits_for_x_ratelimit_reset_in_milliseconds_and_a_500_is_retried() -> None:
    reset_ms = int((time.time() + 12) * 1000)
    responses.get(
        AUDIT,
        status=429,
        json=load("launchdarkly", "error_429.json"),
        headers={"X-Ratelimit-Reset": str(reset_ms), "X-Ratelimit-Route-Remaining": "0"},
    )
    responses.get(AUDIT, json=load("launchdarkly", "auditlog_page1.json"))
    p1 = load("launchdarkly", "auditlog_page1.json")
    responses.get(link(p1), status=500, json=load("launchdarkly", "error_500.json"))
    p2 = load("launchdarkly", "auditlog_page2.json")
    responses.get(link(p1), json=p2)
    responses.get(link(p2), json=load("launchdarkly", "auditlog_page3.json"))
    sleeps: list[float] = []
    pages = list(reader(sleeps).read("changes", None))
    after = time.time()
    assert reset_ms / 1000 - after - 1 <= sleeps[0] <= 12 and sleeps[1:] == [0.5]
    assert sum(len(r.children[0][1]) for p in pages for r in p.records) == 5


@responses.activate
def test_a_bad_token_is_permanent() -> None:
    responses.get(f"{BASE}/api/v2/projects/default", status=401, json=load("launchdarkly", "error_401.json"))
    responses.get(FLAGS, status=401, json=load("launchdarkly", "error_401.json"))
    connector = reader([])
    result = connector.check()
    assert (
        not result.ok
        and "Invalid access token" in result.message
        and SECRETS["access_token"] not in result.message
    )
    with pytest.raises(ConnectorError) as info:
        list(connector.read("flags", None))
    assert info.value.permanent


@responses.activate
def test_check_names_the_project() -> None:
    responses.get(f"{BASE}/api/v2/projects/default", json=load("launchdarkly", "project.json"))
    assert reader([]).check().message == "Connected to the LaunchDarkly project Default Project."


def test_in_the_gallery() -> None:
    cls = REGISTRY["launchdarkly"]
    assert cls.family == "flags" and "audit log" in cls.description
