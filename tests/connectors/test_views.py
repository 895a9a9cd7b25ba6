"""The connectors UI: leads configure, PMs read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse

from connectors.base import REGISTRY
from connectors.models import Connection, RunStatus, SyncRun
from connectors.sync import pause_for_attention, run_sync
from insights.models import Insight
from productops.signals.models import SupportTicket

from .zendesk_fixtures import EXPORT_URL, ME_URL, fixture

pytestmark = pytest.mark.django_db


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Support desk",
        "schedule_kind": "interval",
        "interval_minutes": "30",
        "crontab": "",
        "subdomain": "acme",
        "email": "ops@acme.example",
        "api_token": "zd-new-token-abcdef123456",
        "action": "save",
    }
    data.update(overrides)
    return data


def synced(connection: Connection) -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(EXPORT_URL, json=fixture("incremental_tickets_cursor_page2.json"))
        assert run_sync(connection.pk).outcome == "succeeded"


def test_empty_states(lead_client: Client, pm_client: Client) -> None:
    lead = lead_client.get(reverse("connectors:list")).content.decode()
    assert "No connections yet" in lead and reverse("connectors:add") in lead
    pm = pm_client.get(reverse("connectors:list")).content.decode()
    assert "No connections yet" in pm and reverse("connectors:add") not in pm


def test_gallery_lists_every_connector_by_family(lead_client: Client) -> None:
    html = lead_client.get(reverse("connectors:add")).content.decode()
    for cls in REGISTRY.values():
        assert cls.label in html and reverse("connectors:create", args=[cls.kind]) in html
    assert "Support tickets" in html


@responses.activate
def test_add_with_test_connection_then_save(lead_client: Client) -> None:
    url = reverse("connectors:create", args=["zendesk_tickets_test"])
    page = lead_client.get(url).content.decode()
    assert "Where to find the token" in page and "Test connection" in page

    responses.get(ME_URL, json=fixture("users_me.json"))
    tested = lead_client.post(url, form_data(action="test")).content.decode()
    assert "Connection works." in tested and "Connected as ops@acme.example" in tested
    assert not Connection.objects.exists()

    responses.replace(responses.GET, ME_URL, status=401, json=fixture("error_401.json"))
    failed = lead_client.post(url, form_data(action="test")).content.decode()
    assert "Connection failed." in failed and "refused the API token" in failed

    response = lead_client.post(url, form_data())
    connection = Connection.objects.get()
    assert response["Location"] == reverse("connectors:detail", args=[connection.pk])
    assert connection.config == {"subdomain": "acme", "email": "ops@acme.example"}
    assert connection.get_secrets() == {"api_token": "zd-new-token-abcdef123456"}
    assert connection.periodic_task is not None and connection.periodic_task.interval.every == 30


def test_form_errors_are_clear(lead_client: Client) -> None:
    url = reverse("connectors:create", args=["zendesk_tickets_test"])
    html = lead_client.post(url, form_data(schedule_kind="crontab", crontab="every hour")).content.decode()
    assert "Enter five fields" in html
    assert lead_client.get(reverse("connectors:create", args=["nope"])).status_code == 404


def test_edit_shows_hint_and_blank_keeps_secret(lead_client: Client, zendesk: Connection) -> None:
    url = reverse("connectors:edit", args=[zendesk.pk])
    html = lead_client.get(url).content.decode()
    assert "set, ends in …cdef" in html and "zd-token-0123456789abcdef" not in html
    lead_client.post(url, form_data(name="Acme Zendesk", api_token=""))
    zendesk.refresh_from_db()
    assert zendesk.get_secrets() == {"api_token": "zd-token-0123456789abcdef"}
    lead_client.post(url, form_data(name="Acme Zendesk", api_token="replacement-token-9999"))
    zendesk.refresh_from_db()
    assert zendesk.get_secrets() == {"api_token": "replacement-token-9999"}


def test_sync_now_queues_one_run(
    lead_client: Client, zendesk: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    url = reverse("connectors:sync", args=[zendesk.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        first = lead_client.post(url, follow=True).content.decode()
        second = lead_client.post(url, follow=True).content.decode()
    assert "Sync of “Acme Zendesk” queued." in first
    assert "already queued or running" in second
    assert SyncRun.objects.filter(connection=zendesk, status=RunStatus.QUEUED).count() == 1
    assert len(callbacks) == 1  # one task enqueued, after the run row committed


def test_pause_and_resume(lead_client: Client, zendesk: Connection) -> None:
    lead_client.post(reverse("connectors:pause", args=[zendesk.pk]))
    zendesk.refresh_from_db()
    assert zendesk.periodic_task is not None and not zendesk.periodic_task.enabled
    assert not zendesk.enabled and "Paused by lead" in zendesk.paused_reason
    html = lead_client.post(reverse("connectors:sync", args=[zendesk.pk]), follow=True).content.decode()
    assert "Resume it first" in html and not SyncRun.objects.exists()

    pause_for_attention(zendesk, "Zendesk refused the API token.")
    lead_client.post(reverse("connectors:resume", args=[zendesk.pk]))
    zendesk.refresh_from_db()
    assert zendesk.periodic_task is not None and zendesk.periodic_task.enabled
    assert zendesk.enabled and zendesk.paused_reason == ""
    assert Insight.objects.get(kind="connector_attention").status == "resolved"


def test_backfill_resets_the_cursor(lead_client: Client, zendesk: Connection) -> None:
    synced(zendesk)
    response = lead_client.post(reverse("connectors:backfill", args=[zendesk.pk]), {"since": "2026-02-01"})
    assert response.status_code == 302
    zendesk.refresh_from_db()
    assert zendesk.cursors == {"tickets": {"start_time": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp())}}
    run = SyncRun.objects.get(connection=zendesk, status=RunStatus.QUEUED)
    assert run.trigger == "backfill"


@pytest.mark.parametrize(("choice", "left"), [("keep", 2), ("purge", 0)])
def test_delete_keep_or_purge(lead_client: Client, zendesk: Connection, choice: str, left: int) -> None:
    synced(zendesk)
    url = reverse("connectors:delete", args=[zendesk.pk])
    assert (
        "Type “Acme Zendesk” exactly"
        in lead_client.post(url, {"keep_or_purge": choice, "confirm": "x"}).content.decode()
    )
    assert Connection.objects.exists()
    response = lead_client.post(url, {"keep_or_purge": choice, "confirm": "Acme Zendesk"})
    assert response["Location"] == reverse("connectors:list")
    assert not Connection.objects.exists()
    assert SupportTicket.objects.filter(source_key=zendesk.source_key).count() == left


def test_pm_sees_health_read_only(pm_client: Client, lead_client: Client, zendesk: Connection) -> None:
    synced(zendesk)
    run = SyncRun.objects.get()
    SyncRun.objects.filter(pk=run.pk).update(traceback="Traceback (most recent call last): boom")
    listing = pm_client.get(reverse("connectors:list")).content.decode()
    assert "Acme Zendesk" in listing and "OK" in listing and "Sync now" not in listing
    detail = pm_client.get(reverse("connectors:detail", args=[zendesk.pk])).content.decode()
    assert f"#{run.pk}" in detail and "Delete" not in detail
    assert "boom" not in pm_client.get(reverse("connectors:run", args=[run.pk])).content.decode()
    assert "boom" in lead_client.get(reverse("connectors:run", args=[run.pk])).content.decode()
    assert pm_client.post(reverse("connectors:sync", args=[zendesk.pk])).status_code == 403
    assert pm_client.get(reverse("connectors:edit", args=[zendesk.pk])).status_code == 403


def test_health_failing_and_stale(lead_client: Client, zendesk: Connection) -> None:
    from datetime import timedelta

    from django.utils import timezone

    Connection.objects.filter(pk=zendesk.pk).update(last_success_at=timezone.now() - timedelta(hours=3))
    assert "Stale" in lead_client.get(reverse("connectors:list")).content.decode()  # 3h > 2 x 60 min
    Connection.objects.filter(pk=zendesk.pk).update(error_streak=2, last_error="Zendesk had a server error")
    html = lead_client.get(reverse("connectors:list")).content.decode()
    assert "Failing" in html and "Zendesk had a server error" in html


def test_pms_find_connector_health_in_the_nav(pm_client: Client) -> None:
    html = pm_client.get(reverse("connectors:list")).content.decode()
    assert f'href="{reverse("connectors:list")}"' in html


def test_connections_page_query_count_does_not_grow(
    lead_client: Client, django_assert_max_num_queries: Any
) -> None:
    def make(n: int) -> None:
        for i in range(n):
            Connection.objects.create(name=f"c{Connection.objects.count()}-{i}", kind="zendesk_tickets_test")

    make(2)
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as few:
        lead_client.get(reverse("connectors:list"))
    make(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = lead_client.get(reverse("connectors:list")).content.decode()
    assert html.count('class="card connector-card"') == 10
