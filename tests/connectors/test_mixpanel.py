"""Mixpanel connector: the Raw Event Export sliced by day, deduplicated and counted, from vendor-shaped JSONL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
import time_machine
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.sources.mixpanel import MixpanelConnector
from productops.dashboards.rollups import refresh_all
from productops.dashboards.selectors import daily_frame
from productops.signals.models import Metric, MetricPoint

from .signal_helpers import connection, load, product, query, sync, text

URL = "https://data-eu.mixpanel.com/api/2.0/export"
CONFIG = {
    "region": "eu",
    "project_id": 2195193,
    "service_account": "productops.3c1f2a.mp-service-account",
    "group_by": "$os",
    "start_date": "2026-03-01",
    "lookback_days": 2,
}
SECRETS = {"service_account_secret": "mpsa-0123456789abcdef"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["data-eu.mixpanel.com"] = ["35.190.25.25"]
    return fake_dns


def serve(day: str, suffix: str = "") -> None:
    params = {"project_id": "2195193", "from_date": day, "to_date": day}
    responses.get(
        URL,
        body=text("mixpanel", f"export_{day}{suffix}.jsonl"),
        content_type="text/plain; charset=utf-8",
        match=[matchers.query_param_matcher(params)],
    )


def points(conn: Any) -> dict[tuple[str, str, str, str], float]:
    qs = MetricPoint.objects.filter(metric__source_key=conn.source_key).select_related("metric")
    return {(p.metric.name, p.ts.date().isoformat(), p.dimension_key, p.dimension_value): p.value for p in qs}


@pytest.mark.django_db
@responses.activate
def test_daily_counts_then_only_recent_days_then_idempotent_through_sync_connection() -> None:
    app = product("web-app")
    conn = connection("mixpanel", CONFIG, SECRETS, product=app)
    for day in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"):
        serve(day)

    with time_machine.travel(datetime(2026, 3, 6, 8, 0, tzinfo=UTC), tick=True):
        sync(conn)

    got = points(conn)
    assert got[("Signed Up", "2026-03-01", "", "")] == 3.0
    assert got[("Signed Up", "2026-03-01", "$os", "iOS")] == 2.0
    assert got[("Signed Up", "2026-03-01", "$os", "Android")] == 1.0
    assert got[("Signed Up", "2026-03-02", "", "")] == 4.0  # 5 lines, one a duplicate $insert_id
    assert got[("Report Exported", "2026-03-05", "", "")] == 3.0  # 5 lines, two duplicates
    assert not [k for k in got if k[1] == "2026-03-03"]  # an empty export day writes nothing
    metric = Metric.objects.get(source_key=conn.source_key, external_id="event:Signed Up")
    assert (metric.key, metric.unit, metric.dimensions, metric.product_id) == (
        "signed-up",
        "count",
        ["$os"],
        app.pk,
    )
    assert conn.cursors == {"events": {"next_day": "2026-03-04"}}  # the last 2 days are read again next time
    assert isinstance(got[("Signed Up", "2026-03-01", "", "")], float)

    # A day later: the sync starts at the lookback day, picks up late events for 03-05 and the new day.
    serve("2026-03-04", "_resync")
    serve("2026-03-05", "_resync")
    serve("2026-03-06", "_resync")
    calls_before = len(responses.calls)
    with time_machine.travel(datetime(2026, 3, 7, 8, 0, tzinfo=UTC), tick=True):
        sync(conn)
    assert [query(c)["from_date"] for c in responses.calls[calls_before:]] == [
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
    ]
    got = points(conn)
    assert got[("Signed Up", "2026-03-05", "", "")] == 3.0  # 1 + 2 late arrivals
    assert got[("Signed Up", "2026-03-05", "$os", "Android")] == 2.0
    assert got[("Signed Up", "2026-03-06", "", "")] == 5.0
    run = conn.runs.order_by("-pk").first()
    assert run is not None and run.rows_updated >= 1 and run.rows_inserted >= 1

    # The same day again: idempotent.
    serve("2026-03-05", "_resync")
    serve("2026-03-06", "_resync")
    count = MetricPoint.objects.count()
    with time_machine.travel(datetime(2026, 3, 7, 9, 0, tzinfo=UTC), tick=True):
        sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert MetricPoint.objects.count() == count
    assert run is not None and (run.rows_inserted, run.rows_updated) == (0, 0)

    # The dashboards read the daily rollups.
    refresh_all()
    frame = daily_frame([metric.pk], date(2026, 3, 1), date(2026, 3, 6))
    assert dict(zip(frame["day"].dt.date.astype(str), frame["value"], strict=True)) == {
        "2026-03-01": 3.0,
        "2026-03-02": 4.0,
        "2026-03-04": 2.0,
        "2026-03-05": 3.0,
        "2026-03-06": 5.0,
    }


def reader(sleeps: list[float], secret: str = SECRETS["service_account_secret"]) -> MixpanelConnector:
    client = HttpClient(sleep=sleeps.append, rand=lambda: 0.5, retry=RetryPolicy(max_attempts=3))
    return MixpanelConnector(
        {**CONFIG, "start_date": "2026-03-01"}, {"service_account_secret": secret}, client=client
    )


@responses.activate
def test_429_and_5xx_are_retried_honouring_retry_after() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "20"}, json=load("mixpanel", "error_429.json"))
    serve("2026-03-01")
    responses.get(URL, status=502, body="Bad Gateway")
    serve("2026-03-02")
    sleeps: list[float] = []
    with time_machine.travel(datetime(2026, 3, 3, 8, 0, tzinfo=UTC)):
        pages = list(reader(sleeps).read("events", None))
    assert sleeps == [20.0, 0.5]
    assert [p.cursor for p in pages] == [{"next_day": "2026-03-02"}, {"next_day": "2026-03-01"}]


@responses.activate
def test_bad_credentials_are_permanent() -> None:
    responses.get(URL, status=401, json=load("mixpanel", "error_401.json"))
    connector = reader([], secret="wrong-secret-123")
    result = connector.check()
    assert not result.ok and "Invalid service account credentials" in result.message
    with pytest.raises(ConnectorError) as info, time_machine.travel(datetime(2026, 3, 3, tzinfo=UTC)):
        list(connector.read("events", None))
    assert info.value.permanent


@responses.activate
def test_a_truncated_export_is_transient() -> None:
    body = text("mixpanel", "export_2026-03-01.jsonl")
    responses.get(URL, body=body[: len(body) // 2])
    with pytest.raises(ConnectorError) as info, time_machine.travel(datetime(2026, 3, 2, tzinfo=UTC)):
        list(reader([]).read("events", None))
    assert not info.value.permanent and "2026-03-01" in info.value.message


def test_in_the_gallery() -> None:
    assert REGISTRY["mixpanel"].family == "metrics"
