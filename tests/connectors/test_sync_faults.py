"""Fault tests for the one sync loop: vendor-shaped responses at the HTTP boundary, rows and cursor after."""

from __future__ import annotations

from typing import Any

import requests
import responses
from django.core import mail
from responses import matchers

from connectors.models import Connection, RunStatus, SyncRun
from connectors.sync import backoff_delay, run_sync
from connectors.tasks import sync_connection
from insights.models import Insight
from productops.signals.models import SupportTicket

from .zendesk_fixtures import EXPORT_URL, fixture, fixture_text

PAGE1 = fixture("incremental_tickets_cursor_page1.json")
PAGE2 = fixture("incremental_tickets_cursor_page2.json")
FIRST = matchers.query_param_matcher({"start_time": "0"})
SECOND = matchers.query_param_matcher({"cursor": PAGE1["after_cursor"]})
ALL_IDS = {"101", "102", "103", "104", "105"}


def ids(connection: Connection) -> list[str]:
    return sorted(
        SupportTicket.objects.filter(source_key=connection.source_key).values_list("external_id", flat=True)
    )


def cursor(connection: Connection) -> Any:
    connection.refresh_from_db()
    return connection.cursors.get("tickets")


def page1() -> None:
    responses.get(EXPORT_URL, json=PAGE1, match=[FIRST])


@responses.activate
def test_500_then_200_resumes_and_loses_nothing(zendesk: Connection) -> None:
    page1()
    responses.get(EXPORT_URL, status=500, json={"error": "InternalError"}, match=[SECOND])
    responses.get(EXPORT_URL, json=PAGE2, match=[SECOND])

    sync_connection.apply(args=[zendesk.pk])

    run = SyncRun.objects.get(connection=zendesk)
    assert run.status == RunStatus.SUCCEEDED
    assert run.attempts == 2
    assert sorted(ids(zendesk)) == sorted(ALL_IDS)
    assert cursor(zendesk) == {"after_cursor": PAGE2["after_cursor"]}
    assert (run.pages, run.rows_inserted) == (2, 5)
    # page 1 was committed before the 500, so the retry asked only for page 2
    assert [c.request.params for c in responses.calls] == [  # type: ignore[attr-defined]
        {"start_time": "0"},
        {"cursor": PAGE1["after_cursor"]},
        {"cursor": PAGE1["after_cursor"]},
    ]


@responses.activate
def test_429_honours_retry_after(zendesk: Connection) -> None:
    page1()
    responses.get(
        EXPORT_URL,
        status=429,
        headers={"Retry-After": "7"},
        json={"error": "TooManyRequests"},
        match=[SECOND],
    )
    responses.get(EXPORT_URL, json=PAGE2, match=[SECOND])

    first = run_sync(zendesk.pk)
    assert first.outcome == "retry"
    assert first.retry_in is not None and first.retry_in >= 7
    assert ids(zendesk) == ["101", "102", "103"]
    assert cursor(zendesk) == {"after_cursor": PAGE1["after_cursor"]}
    assert first.run is not None and first.run.status == RunStatus.QUEUED

    second = run_sync(zendesk.pk)
    assert second.outcome == "succeeded"
    assert second.run is not None and second.run.pk == first.run.pk  # the same run resumed
    assert ids(zendesk) == sorted(ALL_IDS)
    assert cursor(zendesk) == {"after_cursor": PAGE2["after_cursor"]}


def test_backoff_is_jittered_capped_and_never_before_retry_after(settings: Any) -> None:
    settings.CONNECTOR_RETRY_BASE = 2
    settings.CONNECTOR_RETRY_CAP = 30
    delays = [backoff_delay(attempt) for attempt in range(1, 10) for _ in range(50)]
    assert all(0 <= d <= 30 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100  # jittered, not a fixed ladder
    assert max(backoff_delay(1) for _ in range(200)) <= 2
    assert all(backoff_delay(1, retry_after=25) >= 25 for _ in range(20))
    # Never beyond the cap: a longer Retry-After fails the run instead (test_rate_limits.py).
    assert all(backoff_delay(1, retry_after=45) == 30 for _ in range(20))


@responses.activate
def test_timeout_is_transient(zendesk: Connection) -> None:
    page1()
    responses.get(EXPORT_URL, body=requests.ReadTimeout("read timed out"), match=[SECOND])
    responses.get(EXPORT_URL, json=PAGE2, match=[SECOND])

    sync_connection.apply(args=[zendesk.pk])

    run = SyncRun.objects.get(connection=zendesk)
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert ids(zendesk) == sorted(ALL_IDS)
    assert cursor(zendesk) == {"after_cursor": PAGE2["after_cursor"]}


@responses.activate
def test_malformed_json_is_transient(zendesk: Connection) -> None:
    page1()
    responses.get(
        EXPORT_URL, body="<html><body>502 Bad Gateway</body></html>", content_type="text/html", match=[SECOND]
    )
    responses.get(EXPORT_URL, json=PAGE2, match=[SECOND])

    result = run_sync(zendesk.pk)
    assert result.outcome == "retry"
    assert result.run is not None and "malformed" in result.run.error_message
    assert ids(zendesk) == ["101", "102", "103"]
    assert cursor(zendesk) == {"after_cursor": PAGE1["after_cursor"]}

    assert run_sync(zendesk.pk).outcome == "succeeded"
    assert ids(zendesk) == sorted(ALL_IDS)


@responses.activate
def test_page_that_ends_halfway(zendesk: Connection) -> None:
    whole = fixture_text("incremental_tickets_cursor_page2.json")
    page1()
    responses.get(EXPORT_URL, body=whole[: len(whole) // 2], content_type="application/json", match=[SECOND])
    responses.get(EXPORT_URL, json=PAGE2, match=[SECOND])

    sync_connection.apply(args=[zendesk.pk])

    assert ids(zendesk) == sorted(ALL_IDS)
    assert SupportTicket.objects.filter(source_key=zendesk.source_key).count() == 5
    assert cursor(zendesk) == {"after_cursor": PAGE2["after_cursor"]}
    assert SyncRun.objects.get(connection=zendesk).status == RunStatus.SUCCEEDED


@responses.activate
def test_transient_errors_give_up_after_the_cap(zendesk: Connection, settings: Any) -> None:
    settings.CONNECTOR_MAX_ATTEMPTS = 3
    page1()
    responses.get(EXPORT_URL, status=503, json={"error": "Unavailable"}, match=[SECOND])

    sync_connection.apply(args=[zendesk.pk])

    run = SyncRun.objects.get(connection=zendesk)
    assert (run.status, run.attempts) == (RunStatus.FAILED, 3)
    assert "HTTP 503" in run.error_message and "Gave up after 3 attempts" in run.error_message
    assert ids(zendesk) == ["101", "102", "103"]  # page 1 stays committed
    assert cursor(zendesk) == {"after_cursor": PAGE1["after_cursor"]}
    zendesk.refresh_from_db()
    assert zendesk.enabled and zendesk.error_streak == 1


@responses.activate
def test_401_pauses_records_insight_and_mails_the_lead(
    zendesk: Connection, lead_user: Any, pm_user: Any
) -> None:
    responses.get(EXPORT_URL, status=401, json=fixture("error_401.json"), match=[FIRST])

    sync_connection.apply(args=[zendesk.pk])

    run = SyncRun.objects.get(connection=zendesk)
    assert run.status == RunStatus.FAILED and run.attempts == 1
    assert "refused the API token" in run.error_message
    zendesk.refresh_from_db()
    assert not zendesk.enabled and "refused the API token" in zendesk.paused_reason
    assert zendesk.periodic_task is not None and not zendesk.periodic_task.enabled  # beat stops enqueueing
    assert ids(zendesk) == [] and zendesk.cursors == {}
    insight = Insight.objects.get(kind="connector_attention", key=f"connection:{zendesk.pk}")
    assert "Acme Zendesk" in insight.title
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [lead_user.email]
    assert "Acme Zendesk" in mail.outbox[0].subject


@responses.activate
def test_two_syncs_without_change_write_nothing(zendesk: Connection) -> None:
    page1()
    responses.get(EXPORT_URL, json=PAGE2, match=[SECOND])
    # The next incremental poll re-sends the last tickets unchanged, as Zendesk does at the boundary.
    responses.get(
        EXPORT_URL, json=PAGE2, match=[matchers.query_param_matcher({"cursor": PAGE2["after_cursor"]})]
    )

    assert run_sync(zendesk.pk).outcome == "succeeded"
    before = {t.external_id: t.last_seen_at for t in SupportTicket.objects.all()}
    second = run_sync(zendesk.pk)

    assert second.outcome == "succeeded" and second.run is not None
    assert (second.run.rows_inserted, second.run.rows_updated, second.run.rows_unchanged) == (0, 0, 2)
    assert SupportTicket.objects.count() == 5
    assert {t.external_id: t.last_seen_at for t in SupportTicket.objects.all()} == before
    assert cursor(zendesk) == {"after_cursor": PAGE2["after_cursor"]}
    assert SyncRun.objects.filter(connection=zendesk, status=RunStatus.SUCCEEDED).count() == 2
