"""One staleness rule (Connection.health) for the connectors page, the overview, the digest and the insight."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connectors.health import check_connector_health
from connectors.models import Connection, Health, ScheduleKind
from insights.models import Insight, InsightStatus
from productops.dashboards.selectors import connector_health
from productops.digests.build import build_digest
from productops.signals.services import record_write

pytestmark = pytest.mark.django_db


def _every_six_hours(ago: timedelta) -> Connection:
    connection = Connection.objects.create(
        name="Six-hourly desk",
        kind="zendesk_tickets_test",
        schedule_kind=ScheduleKind.CRONTAB,
        crontab="0 */6 * * *",
        interval_minutes=60,  # ignored for a crontab schedule (the old overview rule read it anyway)
    )
    Connection.objects.filter(pk=connection.pk).update(
        last_success_at=timezone.now() - ago, created_at=timezone.now() - timedelta(days=30)
    )
    connection.refresh_from_db()
    return connection


def _everywhere(lead_client: Client, lead_user: Any) -> dict[str, bool]:
    page = lead_client.get(reverse("connectors:list")).content.decode()
    digest = build_digest(lead_user, with_charts=False)
    return {
        "connectors page": "Stale" in page,
        "overview": [h["state"] for h in connector_health()] == ["stale"],
        "digest": any("Six-hourly desk" in (i.title + i.summary) for i in digest.connectors),
    }


def test_a_crontab_connection_is_stale_after_two_periods_on_every_page(
    lead_client: Client, lead_user: Any
) -> None:
    connection = _every_six_hours(timedelta(hours=5))
    assert connection.health() == Health.OK
    assert _everywhere(lead_client, lead_user) == {
        "connectors page": False,
        "overview": False,
        "digest": False,
    }

    Connection.objects.filter(pk=connection.pk).update(last_success_at=timezone.now() - timedelta(hours=13))
    connection.refresh_from_db()
    assert connection.health() == Health.STALE
    assert _everywhere(lead_client, lead_user) == {"connectors page": True, "overview": True, "digest": True}


def test_the_health_check_produces_the_stale_connector_insight_and_a_write_resolves_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    connection = _every_six_hours(timedelta(hours=13))
    assert check_connector_health() == [connection.pk]
    insight = Insight.objects.get(kind="stale_connector")
    assert insight.status == InsightStatus.NEW and "Six-hourly desk" in insight.title
    assert set(insight.payload) == {"connection_id", "connection_name", "last_success_at", "expected_every_s"}
    assert insight.payload["connection_id"] == connection.pk
    assert insight.payload["expected_every_s"] == 6 * 3600
    assert check_connector_health() == [connection.pk]
    assert Insight.objects.filter(kind="stale_connector").count() == 1  # refreshed, not duplicated

    with django_capture_on_commit_callbacks(execute=True):
        record_write(connection.source_key, {"tickets"}, [None])
    connection.refresh_from_db()
    assert connection.health() == Health.OK
    insight.refresh_from_db()
    assert insight.status == InsightStatus.RESOLVED


def test_push_only_and_manual_connections_are_never_stale() -> None:
    old = timezone.now() - timedelta(days=90)
    webhook = Connection.objects.create(name="hook", kind="webhook", config={"family": "tickets"})
    manual = Connection.objects.create(
        name="by hand", kind="zendesk_tickets_test", schedule_kind=ScheduleKind.MANUAL
    )
    Connection.objects.filter(pk__in=[webhook.pk, manual.pk]).update(created_at=old)
    for connection in Connection.objects.all():
        assert connection.health() == Health.PENDING
    assert check_connector_health() == []
