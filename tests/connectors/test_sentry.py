"""Sentry connector: releases with health, error events per day, issues; Link pagination and rate limits."""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
import time_machine
from django.core.management.base import CommandError

from connectors.base import REGISTRY, ConnectorError
from connectors.http import RetryPolicy
from connectors.sources.sentry import SentryConnector
from insights.anomalies.selectors import changes
from productops.dashboards.selectors import chart_annotations
from productops.signals.models import ErrorIssue, Metric, MetricPoint, Release

from .signal_helpers import connection, load, product, query, sync

BASE = "https://sentry.io"
ORG = f"{BASE}/api/0/organizations/acme"
TOKEN = "sntrys_eyJpYXQiOjE3MDk4NzY1NDMuMTIzLCJ1cmwiOiJodHRwczovL3NlbnRyeS5pbyJ9_abc"
CONFIG = {
    "base_url": BASE,
    "organization": "acme",
    "projects": "pulse-web, pulse-api",
    "product_map": {"pulse-web": "pulse", "pulse-api": "pulse-api"},
    "start_date": "2026-03-08",
    "lookback_days": 1,
}
SECRETS = {"auth_token": TOKEN}
WEB, API = "4508200000000001", "4508200000000002"
RATE = {
    "X-Sentry-Rate-Limit-Limit": "40",
    "X-Sentry-Rate-Limit-Remaining": "38",
    "X-Sentry-Rate-Limit-Reset": "1773385201",
    "X-Sentry-Rate-Limit-ConcurrentLimit": "25",
    "X-Sentry-Rate-Limit-ConcurrentRemaining": "24",
}


def link(url: str, cursor: str, more: bool) -> str:
    """Sentry's Link header: a previous and a next cursor always, results="true" only when there is more."""
    return (
        f'<{url}?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
        f'<{url}?&cursor={cursor}>; rel="next"; results="{"true" if more else "false"}"; cursor="{cursor}"'
    )


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["sentry.io"] = ["35.186.247.156"]
    return fake_dns


def serve_common() -> None:
    responses.get(
        f"{ORG}/projects/",
        json=load("sentry", "projects.json"),
        headers={**RATE, "Link": link(f"{ORG}/projects/", "100:1:0", False)},
    )
    responses.get(f"{ORG}/sessions/", json=load("sentry", "sessions.json"), headers=RATE)


def serve_releases() -> None:
    responses.get(
        f"{ORG}/releases/",
        json=load("sentry", "releases_page1.json"),
        headers={**RATE, "Link": link(f"{ORG}/releases/", "100:1:0", True)},
    )
    responses.get(
        f"{ORG}/releases/",
        json=load("sentry", "releases_page2.json"),
        headers={**RATE, "Link": link(f"{ORG}/releases/", "100:2:0", False)},
    )


def serve_stats(web: str, api: str) -> None:
    responses.get(f"{ORG}/stats_v2/", json=load("sentry", web), headers=RATE)
    responses.get(f"{ORG}/stats_v2/", json=load("sentry", api), headers=RATE)


def calls_to(path: str, since: int = 0) -> list[Any]:
    return [c for c in responses.calls[since:] if str(c.request.url).split("?")[0].endswith(path)]


@pytest.mark.django_db
@responses.activate
def test_releases_errors_and_issues_through_sync_connection() -> None:
    pulse, pulse_api = product("pulse"), product("pulse-api")
    conn = connection("sentry", CONFIG, SECRETS)
    serve_common()
    serve_releases()
    serve_stats("stats_pulse_web.json", "stats_pulse_api.json")
    responses.get(
        f"{ORG}/issues/",
        json=load("sentry", "issues_page1.json"),
        headers={**RATE, "Link": link(f"{ORG}/issues/", "1773385200000:0:0", True)},
    )
    responses.get(
        f"{ORG}/issues/",
        json=load("sentry", "issues_page2.json"),
        headers={**RATE, "Link": link(f"{ORG}/issues/", "1773385200000:1:0", False)},
    )

    with time_machine.travel(datetime(2026, 3, 13, 6, 0, tzinfo=UTC), tick=False):
        sync(conn)

    assert conn.last_error == "" and conn.enabled
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in responses.calls)
    # Releases: one per (configured project, version); page 2 followed through the Link cursor; its
    # releases are older than the start date and not stored.
    releases = calls_to("/releases/")
    assert len(releases) == 2 and query(releases[1])["cursor"] == "100:1:0"
    rows = {r.external_id: r for r in Release.objects.filter(source_key=conn.source_key)}
    assert sorted(rows) == ["pulse-api@pulse@4.2.0", "pulse-web@pulse@4.2.0"]
    web42 = rows["pulse-web@pulse@4.2.0"]
    assert (web42.product_id, web42.released_at, web42.environment, web42.new_issues) == (
        pulse.pk,
        datetime(2026, 3, 10, 9, 12, 30, tzinfo=UTC),  # the deploy's finish, not the release's creation
        "production",
        3,
    )
    assert (web42.crash_free_sessions, web42.crash_free_users) == (0.9712, 0.9885)
    assert web42.crash_free_sessions_text == "97.12%"
    api42 = rows["pulse-api@pulse@4.2.0"]
    assert api42.product_id == pulse_api.pk and api42.crash_free_sessions is None  # no session data
    sessions = query(calls_to("/sessions/")[0])
    assert sessions["groupBy"] == ["project", "release"]
    assert sessions["field"] == ["crash_free_rate(session)", "crash_free_rate(user)"]
    assert sessions["project"] == [WEB, API]

    # Error events per day: one metric per project, good direction down, zeros where Sentry had none.
    stats = calls_to("/stats_v2/")
    assert [query(c)["project"] for c in stats] == [WEB, API]
    first = query(stats[0])
    assert (first["category"], first["outcome"], first["interval"], first["field"]) == (
        "error",
        "accepted",
        "1d",
        "sum(quantity)",
    )
    assert (first["start"], first["end"]) == ("2026-03-08T00:00:00Z", "2026-03-13T00:00:00Z")
    web = Metric.objects.get(source_key=conn.source_key, external_id="errors:pulse-web")
    assert (web.product_id, web.good_direction, web.key, web.name) == (
        pulse.pk,
        "down",
        "sentry-errors-pulse-web",
        "Error events · pulse-web",
    )
    assert list(MetricPoint.objects.filter(metric=web).order_by("ts").values_list("value", flat=True)) == [
        410,
        396,
        2380,
        2620,
        1240,
    ]
    api = Metric.objects.get(source_key=conn.source_key, external_id="errors:pulse-api")
    assert set(MetricPoint.objects.filter(metric=api).values_list("value", flat=True)) == {0.0}

    # Issues: all statuses (query= blank), both pages, with level, substatus and counts.
    issues = calls_to("/issues/")
    assert len(issues) == 2 and query(issues[0])["query"] == "" and query(issues[0])["sort"] == "date"
    assert query(issues[0])["start"] == "2026-03-08T00:00:00"
    stored = {i.short_id: i for i in ErrorIssue.objects.filter(source_key=conn.source_key)}
    assert sorted(stored) == ["PULSE-API-1D", "PULSE-WEB-2Z", "PULSE-WEB-3K"]
    new = stored["PULSE-WEB-3K"]
    assert (new.level, new.status, new.substatus, new.events, new.users, new.product_id) == (
        "error",
        "unresolved",
        "new",
        5120,
        1893,
        pulse.pk,
    )
    assert new.first_seen == datetime(2026, 3, 10, 9, 14, 2, 511000, tzinfo=UTC)
    assert new.url == "https://acme.sentry.io/issues/6120045501/"
    assert stored["PULSE-API-1D"].substatus == "regressed" and stored["PULSE-API-1D"].level == "fatal"
    assert stored["PULSE-WEB-2Z"].substatus == ""  # older shapes have no substatus

    assert conn.cursors["events"] == {"start": "2026-03-12"}
    assert conn.cursors["issues"] == {"since": "2026-03-13T05:00:00+00:00"}
    assert conn.cursors["releases"] == {"since": "2026-03-13T06:00:00+00:00"}

    # Releases are chart annotations and incident evidence, beside tracker releases, for their product.
    notes = chart_annotations([], [pulse.pk], date(2026, 3, 1), date(2026, 3, 31))
    assert {"day": date(2026, 3, 10), "kind": "release", "text": "Released: pulse@4.2.0"} in notes
    evidence = [(pid, c.kind, c.label) for pid, c in changes([pulse.pk])]
    assert (pulse.pk, "release", "Released: pulse@4.2.0 (pulse-web · production)") in evidence

    # Next day: the incremental window starts at the lookback day and rewrites it; nothing duplicates.
    before = len(responses.calls)
    serve_common()
    serve_releases()
    serve_stats("stats_pulse_web_day2.json", "stats_pulse_api_day2.json")
    responses.get(
        f"{ORG}/issues/",
        json=load("sentry", "issues_empty.json"),
        headers={**RATE, "Link": link(f"{ORG}/issues/", "0:0:0", False)},
    )
    with time_machine.travel(datetime(2026, 3, 14, 6, 0, tzinfo=UTC), tick=False):
        sync(conn)
    stats = calls_to("/stats_v2/", before)
    assert [query(c)["start"] for c in stats] == ["2026-03-12T00:00:00Z", "2026-03-12T00:00:00Z"]
    assert query(calls_to("/issues/", before)[0])["start"] == "2026-03-13T05:00:00"
    assert dict(MetricPoint.objects.filter(metric=web).values_list("ts__day", "value")) == {
        8: 410,
        9: 396,
        10: 2380,
        11: 2620,
        12: 1301,
        13: 581,
    }
    assert MetricPoint.objects.get(metric=api, ts__day=13).value == 12
    # Later syncs re-read two weeks of releases (deploys and health arrive late): 4.1.3 now counts,
    # released at its release date as it has no deploy; the January one is still too old.
    assert Release.objects.count() == 3 and ErrorIssue.objects.count() == 3
    older = Release.objects.get(external_id="pulse-web@pulse@4.1.3")
    assert (
        older.released_at == datetime(2026, 3, 3, 14, 30, tzinfo=UTC) and older.crash_free_sessions == 0.9981
    )


def reader(sleeps: list[float], **config: Any) -> SentryConnector:
    connector = SentryConnector({**CONFIG, **config}, SECRETS)
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_waits_for_the_sentry_reset() -> None:
    reset = int(time.time()) + 7
    responses.get(
        f"{ORG}/",
        status=429,
        json=load("sentry", "error_429.json"),
        headers={**RATE, "X-Sentry-Rate-Limit-Remaining": "0", "X-Sentry-Rate-Limit-Reset": str(reset)},
    )
    responses.get(f"{ORG}/", json=load("sentry", "organization.json"), headers=RATE)
    sleeps: list[float] = []
    result = reader(sleeps).check()
    after = time.time()
    assert result.ok and result.message == "Connected to Sentry organization “Acme”."
    assert len(sleeps) == 1 and reset - after - 1 <= sleeps[0] <= 7


@pytest.mark.django_db
@responses.activate
def test_a_bad_token_pauses_the_connection_with_sentrys_message() -> None:
    responses.get(f"{ORG}/projects/", status=401, json=load("sentry", "error_401.json"))
    conn = connection("sentry", CONFIG, SECRETS)
    with pytest.raises(CommandError):
        sync(conn)
    conn.refresh_from_db()
    assert not conn.enabled and "Invalid token" in conn.paused_reason and TOKEN not in conn.paused_reason


@pytest.mark.django_db
@responses.activate
def test_an_unknown_project_names_the_ones_the_token_can_see() -> None:
    responses.get(f"{ORG}/projects/", json=load("sentry", "projects.json"), headers=RATE)
    with pytest.raises(ConnectorError) as info:
        list(reader([], projects="pulse-web, pulse-mobile").read("events", None))
    assert info.value.permanent
    assert (
        "pulse-mobile" in info.value.message and "internal-tools, pulse-api, pulse-web" in info.value.message
    )


@pytest.mark.django_db
@responses.activate
def test_no_release_health_keeps_the_releases() -> None:
    product("pulse")
    responses.get(f"{ORG}/projects/", json=load("sentry", "projects.json"), headers=RATE)
    responses.get(f"{ORG}/sessions/", status=403, json=load("sentry", "error_403.json"))
    serve_releases()
    with time_machine.travel(datetime(2026, 3, 13, 6, 0, tzinfo=UTC), tick=False):
        pages = list(reader([]).read("releases", None))
    records = [r for p in pages for r in p.records]
    assert len(records) == 2 and all(r.values["crash_free_sessions"] is None for r in records)
    assert pages[-1].done


def test_self_hosted_on_a_private_address_is_refused_by_the_ssrf_guard(fake_dns: Any) -> None:
    fake_dns.records["sentry.corp.acme.example"] = ["10.20.0.7"]
    connector = reader([], base_url="https://sentry.corp.acme.example")
    result = connector.check()
    assert not result.ok and "CONNECTOR_ALLOWED_NETWORKS" in result.message


def test_in_the_gallery_with_vendor_docs() -> None:
    cls = REGISTRY["sentry"]
    assert cls.family == "monitoring" and cls.also_fills == ("metrics",)
    doc = sys.modules[cls.__module__].__doc__ or ""
    assert "https://docs.sentry.io/api/pagination/" in doc and "https://docs.sentry.io/api/ratelimits/" in doc
