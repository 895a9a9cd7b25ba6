"""PagerDuty connector: incidents by offset/limit/more, open ones re-read, services mapped to products."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
import time_machine
from django.core.management.base import CommandError
from responses import matchers

from connectors.base import REGISTRY
from connectors.http import RetryPolicy
from connectors.sources.pagerduty import PagerDutyConnector
from insights.anomalies.selectors import changes
from productops.signals.models import OpsIncident

from .signal_helpers import connection, load, product, query, sync

API = "https://api.pagerduty.com"
KEY = "u+y3bzFxfgzKqfwAoW4w"
CONFIG = {
    "api_host": API,
    "service_map": {"PIJ90N7": "pulse"},
    "only_mapped": False,
    "start_date": "2026-03-01",
}
SECRETS = {"api_key": KEY}
HEADERS = matchers.header_matcher(
    {"Authorization": f"Token token={KEY}", "Accept": "application/vnd.pagerduty+json;version=2"}
)
RATE = {"ratelimit-limit": "960", "ratelimit-remaining": "958", "ratelimit-reset": "41"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["api.pagerduty.com"] = ["44.242.69.192"]
    return fake_dns


def calls_to(path: str, since: int = 0) -> list[Any]:
    return [c for c in responses.calls[since:] if str(c.request.url).split("?")[0].endswith(path)]


@pytest.mark.django_db
@responses.activate
def test_incidents_then_open_ones_resolve_through_sync_connection() -> None:
    pulse = product("pulse")
    conn = connection("pagerduty", CONFIG, SECRETS)
    responses.get(
        f"{API}/incidents", json=load("pagerduty", "incidents_page1.json"), headers=RATE, match=[HEADERS]
    )
    responses.get(
        f"{API}/incidents", json=load("pagerduty", "incidents_page2.json"), headers=RATE, match=[HEADERS]
    )

    with time_machine.travel(datetime(2026, 3, 13, 6, 0, tzinfo=UTC), tick=False):
        sync(conn)

    listing = calls_to("/incidents")
    assert [query(c)["offset"] for c in listing] == ["0", "2"]
    first = query(listing[0])
    assert (first["since"], first["until"], first["sort_by"], first["time_zone"], first["limit"]) == (
        "2026-03-01T00:00:00+00:00",
        "2026-03-13T06:00:00+00:00",
        "created_at:asc",
        "UTC",
        "100",
    )
    rows = {i.number: i for i in OpsIncident.objects.filter(source_key=conn.source_key)}
    assert sorted(n or 0 for n in rows) == [1234, 1235, 1236]
    outage = rows[1234]
    assert (outage.product_id, outage.service_name, outage.urgency, outage.priority, outage.status) == (
        pulse.pk,
        "Pulse API",
        "high",
        "P1",
        "resolved",
    )
    assert outage.opened_at == datetime(2026, 3, 10, 10, 2, 17, tzinfo=UTC)
    assert outage.resolved_at == datetime(2026, 3, 10, 13, 41, 9, tzinfo=UTC)
    assert outage.url == "https://acme.pagerduty.com/incidents/Q1R2DLCB21K7TY"
    assert (
        rows[1235].product_id is None
        and rows[1235].status == "acknowledged"
        and rows[1235].resolved_at is None
    )
    assert conn.cursors["incidents"] == {
        "since": "2026-03-13T05:00:00+00:00",
        "open": ["Q0ZNH7TDW0RN1D", "Q3S0W1ZB5GQ0MN"],
    }

    # On-call incidents are evidence for the product's incidents.
    evidence = [(pid, c.kind, c.label) for pid, c in changes([pulse.pk])]
    assert (
        pulse.pk,
        "incident",
        "On-call incident #1234: Pulse API 5xx rate above 5% (checkout and reports) (Pulse API, high urgency)",
    ) in evidence

    # Next sync: the open ones are re-read by id (one resolved, one merged away), then new ones listed.
    before = len(responses.calls)
    responses.get(
        f"{API}/incidents/Q0ZNH7TDW0RN1D",
        status=404,
        json=load("pagerduty", "error_404.json"),
        match=[HEADERS],
    )
    responses.get(
        f"{API}/incidents/Q3S0W1ZB5GQ0MN",
        json=load("pagerduty", "incident_resolved_without_resolved_at.json"),
        match=[HEADERS],
    )
    responses.get(f"{API}/incidents", json=load("pagerduty", "incidents_empty.json"), headers=RATE)
    with time_machine.travel(datetime(2026, 3, 14, 6, 0, tzinfo=UTC), tick=False):
        sync(conn)
    assert [str(c.request.url).rsplit("/", 1)[1] for c in responses.calls[before : before + 2]] == [
        "Q0ZNH7TDW0RN1D",
        "Q3S0W1ZB5GQ0MN",
    ]
    assert query(calls_to("/incidents", before)[0])["since"] == "2026-03-13T05:00:00+00:00"
    disk = OpsIncident.objects.get(number=1235)
    assert disk.status == "resolved" and disk.resolved_at == datetime(2026, 3, 13, 7, 2, 44, tzinfo=UTC)
    assert OpsIncident.objects.count() == 3
    assert conn.cursors["incidents"] == {"since": "2026-03-14T05:00:00+00:00", "open": []}


@pytest.mark.django_db
@responses.activate
def test_a_long_backfill_is_read_in_six_month_windows() -> None:
    responses.get(f"{API}/incidents", json=load("pagerduty", "incidents_empty.json"))
    responses.get(f"{API}/incidents", json=load("pagerduty", "incidents_empty.json"))
    connector = PagerDutyConnector({**CONFIG, "start_date": "2025-06-01"}, SECRETS)
    with time_machine.travel(datetime(2026, 3, 13, 6, 0, tzinfo=UTC), tick=False):
        pages = list(connector.read("incidents", None))
    windows = [(query(c)["since"][:10], query(c)["until"][:10]) for c in responses.calls]
    assert windows == [("2025-06-01", "2025-11-27"), ("2025-11-27", "2026-03-13")]
    assert pages[-1].done and len(pages) == 2


def reader(sleeps: list[float]) -> PagerDutyConnector:
    connector = PagerDutyConnector(CONFIG, SECRETS)
    connector.client.sleep, connector.client.rand = sleeps.append, lambda: 0.5
    connector.client.retry = RetryPolicy(max_attempts=3)
    return connector


@responses.activate
def test_429_waits_for_ratelimit_reset() -> None:
    responses.get(
        f"{API}/services",
        status=429,
        json=load("pagerduty", "error_429.json"),
        headers={"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "17"},
    )
    responses.get(f"{API}/services", json=load("pagerduty", "services.json"), headers=RATE)
    sleeps: list[float] = []
    result = reader(sleeps).check()
    assert result.ok and result.message == "Connected to PagerDuty: 7 service(s)."
    assert sleeps == [17.0]


@pytest.mark.django_db
@responses.activate
def test_a_bad_key_pauses_the_connection() -> None:
    responses.get(f"{API}/incidents", status=401, json=load("pagerduty", "error_401.json"))
    conn = connection("pagerduty", CONFIG, SECRETS)
    with pytest.raises(CommandError):
        sync(conn)
    conn.refresh_from_db()
    assert (
        not conn.enabled and "Authentication failed" in conn.paused_reason and KEY not in conn.paused_reason
    )


@pytest.mark.django_db
@responses.activate
def test_only_mapped_services_filters_by_service_ids() -> None:
    responses.get(f"{API}/incidents", json=load("pagerduty", "incidents_empty.json"))
    connector = PagerDutyConnector({**CONFIG, "only_mapped": True}, SECRETS)
    with time_machine.travel(datetime(2026, 3, 13, 6, 0, tzinfo=UTC), tick=False):
        list(connector.read("incidents", None))
    assert query(responses.calls[0])["service_ids[]"] == "PIJ90N7"


def test_in_the_gallery_with_vendor_docs() -> None:
    cls = REGISTRY["pagerduty"]
    assert cls.family == "monitoring"
    doc = sys.modules[cls.__module__].__doc__ or ""
    assert "https://developer.pagerduty.com/docs/pagination" in doc and "rate-limits" in doc
