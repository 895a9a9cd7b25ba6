"""Amplitude connector: event segmentation daily series, replayed from vendor-shaped fixtures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
import time_machine
from responses import matchers

from connectors.base import REGISTRY, ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.sources.amplitude import AmplitudeConnector
from productops.dashboards.rollups import refresh_all
from productops.dashboards.selectors import daily_frame
from productops.signals.models import Metric, MetricPoint

from .signal_helpers import connection, load, product, query, sync

SEG = "https://amplitude.com/api/2/events/segmentation"
LIST = "https://amplitude.com/api/2/events/list"
CONFIG = {
    "region": "us",
    "api_key": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "events": "Signed Up, Report Exported, Invite Sent",
    "group_by": "platform",
    "measure": "totals",
    "project_product": "web-app",
    "start_date": "2026-03-01",
    "lookback_days": 2,
}
SECRETS = {"secret_key": "amp-secret-0123456789abcdef"}
AUTH = "Basic YTFiMmMzZDRlNWY2MDcxODI5M2E0YjVjNmQ3ZThmOTA6YW1wLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["amplitude.com"] = ["52.88.1.1"]
    return fake_dns


def serve(event: str, start: str, end: str, fixture: str) -> None:
    e = json.dumps(
        {"event_type": event, "group_by": [{"type": "user", "value": "platform"}]}, separators=(",", ":")
    )
    params = {"e": e, "start": start, "end": end, "m": "totals", "i": "1"}
    responses.get(
        SEG,
        json=load("amplitude", fixture),
        match=[matchers.query_param_matcher(params), matchers.header_matcher({"Authorization": AUTH})],
    )


def points(conn: Any) -> dict[tuple[str, str, str], float]:
    qs = MetricPoint.objects.filter(metric__source_key=conn.source_key, metric__name="Signed Up")
    return {(p.ts.date().isoformat(), p.dimension_key, p.dimension_value): p.value for p in qs}


@pytest.mark.django_db
@responses.activate
def test_series_then_only_recent_days_then_idempotent_through_sync_connection() -> None:
    web = product("web-app")
    conn = connection("amplitude", CONFIG, SECRETS)
    serve("Signed Up", "20260301", "20260305", "segmentation_signed_up.json")
    serve("Report Exported", "20260301", "20260305", "segmentation_report_exported.json")
    serve("Invite Sent", "20260301", "20260305", "segmentation_invite_sent_empty.json")

    with time_machine.travel(datetime(2026, 3, 6, 9, 0, tzinfo=UTC), tick=True):
        sync(conn)

    got = points(conn)
    assert got[("2026-03-01", "platform", "iOS")] == 120.0
    assert got[("2026-03-01", "platform", "(none)")] == 2.0
    assert got[("2026-03-01", "", "")] == 202.0  # iOS 120 + Android 80 + (none) 2
    assert got[("2026-03-03", "", "")] == 0.0  # a real zero day
    signed_up = Metric.objects.get(source_key=conn.source_key, external_id="event:Signed Up")
    assert (signed_up.key, signed_up.product_id, signed_up.dimensions) == ("signed-up", web.pk, ["platform"])
    assert not Metric.objects.filter(source_key=conn.source_key, name="Invite Sent").exists()  # no data yet
    assert conn.cursors == {"segmentation": {"start": "2026-03-04"}}

    # The next day: only from the lookback day on; late events raise 03-05, 03-06 is new.
    serve("Signed Up", "20260304", "20260306", "segmentation_signed_up_resync.json")
    serve("Report Exported", "20260304", "20260306", "segmentation_report_exported_resync.json")
    serve("Invite Sent", "20260304", "20260306", "segmentation_invite_sent_resync.json")
    before = len(responses.calls)
    with time_machine.travel(datetime(2026, 3, 7, 9, 0, tzinfo=UTC), tick=True):
        sync(conn)
    assert [(query(c)["start"], query(c)["end"]) for c in responses.calls[before:]] == [
        ("20260304", "20260306")
    ] * 3
    got = points(conn)
    assert got[("2026-03-05", "platform", "iOS")] == 158.0 and got[("2026-03-05", "", "")] == 255.0
    assert got[("2026-03-06", "", "")] == 259.0
    invite = Metric.objects.get(source_key=conn.source_key, name="Invite Sent")
    assert MetricPoint.objects.get(metric=invite, dimension_key="", ts__date=date(2026, 3, 6)).value == 4.0

    # Re-running the same window (cursor set back) with the same answers changes nothing.
    assert conn.cursors == {"segmentation": {"start": "2026-03-05"}}
    conn.cursors = {"segmentation": {"start": "2026-03-04"}}
    conn.save()
    serve("Signed Up", "20260304", "20260306", "segmentation_signed_up_resync.json")
    serve("Report Exported", "20260304", "20260306", "segmentation_report_exported_resync.json")
    serve("Invite Sent", "20260304", "20260306", "segmentation_invite_sent_resync.json")
    with time_machine.travel(datetime(2026, 3, 7, 10, 0, tzinfo=UTC), tick=True):
        sync(conn)
    run = conn.runs.order_by("-pk").first()
    assert run is not None and (run.rows_inserted, run.rows_updated) == (0, 0)

    refresh_all()
    frame = daily_frame([signed_up.pk], date(2026, 3, 1), date(2026, 3, 6))
    assert list(frame.sort_values("day")["value"]) == [202.0, 215.0, 0.0, 231.0, 255.0, 259.0]


def reader(sleeps: list[float], secret: str = SECRETS["secret_key"]) -> AmplitudeConnector:
    client = HttpClient(sleep=sleeps.append, rand=lambda: 0.5, retry=RetryPolicy(max_attempts=3))
    return AmplitudeConnector(
        {**CONFIG, "events": "Signed Up", "project_product": ""}, {"secret_key": secret}, client=client
    )


@responses.activate
def test_429_and_5xx_are_retried() -> None:
    responses.get(SEG, status=429, headers={"Retry-After": "30"}, body="Too many concurrent requests")
    responses.get(SEG, status=500, json={"error": "Internal Server Error"})
    responses.get(SEG, json=load("amplitude", "segmentation_signed_up.json"))
    sleeps: list[float] = []
    with time_machine.travel(datetime(2026, 3, 6, tzinfo=UTC)):
        pages = list(reader(sleeps).read("segmentation", None))
    assert sleeps == [30.0, 1.0]  # Retry-After, then full jitter (0.5 x 2 s on the 2nd attempt)
    assert len(pages[0].records[0].children[0][1]) == 20  # 3 groups x 5 days + 5 totals


@responses.activate
def test_bad_keys_are_permanent() -> None:
    responses.get(LIST, status=401, body="Invalid API key or secret key")
    responses.get(SEG, status=401, body="Invalid API key or secret key")
    connector = reader([], secret="wrong-secret-123")
    result = connector.check()
    assert not result.ok and "Check the API token" in result.message
    with pytest.raises(ConnectorError) as info, time_machine.travel(datetime(2026, 3, 6, tzinfo=UTC)):
        list(connector.read("segmentation", None))
    assert info.value.permanent


@responses.activate
def test_check_lists_missing_events() -> None:
    responses.get(LIST, json=load("amplitude", "events_list.json"))
    assert reader([]).check().ok
    other = AmplitudeConnector({**CONFIG, "events": "Signed Up, Upgraded"}, SECRETS, client=HttpClient())
    assert other.check().message == "Connected, but the project has no event type Upgraded."


@responses.activate
def test_uniques_ask_for_the_overall_line_separately_since_groups_do_not_add_up() -> None:
    grouped = json.dumps(
        {"event_type": "Signed Up", "group_by": [{"type": "user", "value": "platform"}]},
        separators=(",", ":"),
    )
    overall = json.dumps({"event_type": "Signed Up"}, separators=(",", ":"))
    base = {"start": "20260301", "end": "20260305", "m": "uniques", "i": "1"}
    responses.get(
        SEG,
        json=load("amplitude", "segmentation_signed_up.json"),
        match=[matchers.query_param_matcher({**base, "e": grouped})],
    )
    lone = load("amplitude", "segmentation_report_exported.json")
    lone["data"]["series"] = [[150, 160, 0, 170, 180]]
    lone["data"]["seriesLabels"] = [0]
    responses.get(SEG, json=lone, match=[matchers.query_param_matcher({**base, "e": overall})])
    connector = AmplitudeConnector(
        {**CONFIG, "events": "Signed Up", "measure": "uniques", "project_product": ""},
        SECRETS,
        client=HttpClient(sleep=lambda s: None),
    )
    with time_machine.travel(datetime(2026, 3, 6, tzinfo=UTC)):
        (page,) = list(connector.read("segmentation", None))
    metric = page.records[0]
    assert metric.values["aggregation"] == "mean"
    totals = {
        p["ts"].date().isoformat(): p["value"] for p in metric.children[0][1] if p["dimension_key"] == ""
    }
    assert totals == {
        "2026-03-01": 150.0,
        "2026-03-02": 160.0,
        "2026-03-03": 0.0,
        "2026-03-04": 170.0,
        "2026-03-05": 180.0,
    }


def test_in_the_gallery() -> None:
    assert REGISTRY["amplitude"].family == "metrics"
