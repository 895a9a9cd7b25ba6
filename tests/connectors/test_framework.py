"""Registry loading, kind validation, schedules, locks, reaper, secrets and the management commands."""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import responses
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from connectors.apps import load_connector_modules
from connectors.base import REGISTRY, by_family
from connectors.locks import AdvisoryLock, RedisLock, RowLock, lock_for
from connectors.models import Connection, RunStatus, SyncRun
from connectors.secrets import decrypt, encrypt, hint, redact
from connectors.sync import queue_run, reap_stuck_runs
from productops.signals.models import SupportTicket

from .zendesk_fixtures import EXPORT_URL, fixture


def test_a_module_that_fails_to_import_is_logged_and_skipped(settings: Any, caplog: Any) -> None:
    settings.PRODUCTOPS_CONNECTORS = ["connectors.sources.does_not_exist", "tests.connectors.sources"]
    settings.PRODUCTOPS_EXTRA_CONNECTORS = ["tests.connectors.broken_connector_module"]
    with caplog.at_level(logging.ERROR):
        failed = load_connector_modules()
    assert failed == ["connectors.sources.does_not_exist", "tests.connectors.broken_connector_module"]
    assert "connectors.sources.does_not_exist" in caplog.text
    assert "zendesk_tickets_test" in REGISTRY


def test_gallery_groups_every_registered_connector_by_family() -> None:
    listed = {c.kind for _, _, members in by_family() for c in members}
    assert set(REGISTRY) == listed


@pytest.mark.django_db
def test_kind_is_validated_against_the_registry() -> None:
    connection = Connection(name="x", kind="no_such_tool")
    with pytest.raises(ValidationError) as err:
        connection.full_clean()
    assert "kind" in err.value.message_dict
    Connection(name="y", kind="zendesk_tickets_test").full_clean()


@pytest.mark.django_db
def test_periodic_task_follows_the_row(zendesk: Connection) -> None:
    task = PeriodicTask.objects.get(pk=zendesk.periodic_task_id)
    assert task.task == "connectors.tasks.sync_connection" and task.queue == "connectors"
    assert task.args == f"[{zendesk.pk}]" and task.interval.every == 60 and task.enabled

    zendesk.schedule_kind, zendesk.crontab = "crontab", "15 */6 * * *"
    zendesk.save()
    task.refresh_from_db()
    assert task.interval is None and (task.crontab.minute, task.crontab.hour) == ("15", "*/6")

    zendesk.enabled = False
    zendesk.save(update_fields=["enabled"])
    task.refresh_from_db()
    assert not task.enabled

    zendesk.delete()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def _acquire_elsewhere(connection_id: int) -> bool:
    """Try the lock from another thread, i.e. another database session, as another worker would."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection as db

    def attempt() -> bool:
        lock = lock_for(connection_id)
        try:
            got = lock.acquire()
            if got:
                lock.release()
            return got
        finally:
            db.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(attempt).result()


@pytest.mark.django_db
def test_lock_allows_one_holder(zendesk: Connection) -> None:
    first = lock_for(zendesk.pk)
    assert first.acquire()
    if isinstance(first, AdvisoryLock):
        # A session-level advisory lock belongs to the session: another session must be refused.
        assert not _acquire_elsewhere(zendesk.pk)
        first.release()
        assert _acquire_elsewhere(zendesk.pk)
    else:
        second = lock_for(zendesk.pk)
        assert not second.acquire()
        first.release()
        assert second.acquire()
        second.release()


@pytest.mark.django_db
def test_row_lock_expires_and_only_the_owner_releases(zendesk: Connection, settings: Any) -> None:
    first, second = RowLock(zendesk.pk), RowLock(zendesk.pk)
    assert first.acquire() and not second.acquire()
    second.release()  # not the owner: no effect
    assert not second.acquire()
    Connection.objects.filter(pk=zendesk.pk).update(lock_expires_at=timezone.now() - timedelta(seconds=1))
    assert second.acquire()  # the dead owner's claim expired
    first.release()  # the old owner can't free the new owner's claim
    assert not RowLock(zendesk.pk).acquire()


@pytest.mark.django_db
def test_redis_lock_owner_token_and_expiry(zendesk: Connection, settings: Any) -> None:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the Redis lock is only used with Redis")
    settings.CONNECTOR_LOCK_TTL = 10  # long enough that no stall of this test lets a lock run out by itself
    first, second = RedisLock(zendesk.pk, settings.REDIS_URL), RedisLock(zendesk.pk, settings.REDIS_URL)
    assert first.acquire() and not second.acquire()
    first.refresh()
    assert not second.acquire()
    first.client.pexpire(first.lock.name, 1)  # as if the owner died and the expiry ran out
    import time

    time.sleep(0.05)
    assert second.acquire()
    first.release()  # logged, not raised; the new owner keeps the lock
    assert not RedisLock(zendesk.pk, settings.REDIS_URL).acquire()
    second.release()


@pytest.mark.django_db
def test_reaper_abandons_stuck_runs_only(zendesk: Connection, settings: Any) -> None:
    settings.CONNECTOR_RUN_TIMEOUT = 60
    stuck = queue_run(zendesk, trigger="schedule")
    assert stuck is not None
    SyncRun.objects.filter(pk=stuck.pk).update(
        status=RunStatus.RUNNING,
        started_at=timezone.now() - timedelta(minutes=10),
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    assert reap_stuck_runs() == 1
    stuck.refresh_from_db()
    assert stuck.status == RunStatus.ABANDONED and "abandoned" in stuck.error_message
    fresh = queue_run(zendesk, trigger="schedule")
    assert fresh is not None
    SyncRun.objects.filter(pk=fresh.pk).update(status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    assert reap_stuck_runs() == 0


@pytest.mark.django_db
def test_next_sync_abandons_a_run_left_running_by_a_dead_worker(zendesk: Connection) -> None:
    dead = queue_run(zendesk, trigger="schedule")
    assert dead is not None
    SyncRun.objects.filter(pk=dead.pk).update(status=RunStatus.RUNNING, started_at=timezone.now())
    with responses.RequestsMock() as rsps:
        rsps.get(EXPORT_URL, json={**fixture("incremental_tickets_cursor_page2.json")})
        call_command("sync_connection", str(zendesk.pk), stdout=StringIO())
    dead.refresh_from_db()
    assert dead.status == RunStatus.ABANDONED
    assert SyncRun.objects.filter(connection=zendesk, status=RunStatus.SUCCEEDED).count() == 1


def test_secrets_round_trip_hint_and_redact() -> None:
    token = encrypt({"api_token": "abcdefghijkl-9876"})
    assert "abcdefghijkl" not in token
    assert decrypt(token) == {"api_token": "abcdefghijkl-9876"}
    assert hint("abcdefghijkl-9876") == "set, ends in …9876"
    assert hint("") == "not set"
    assert redact("GET https://x/?token=abcdefghijkl-9876 failed", ["abcdefghijkl-9876"]) == (
        "GET https://x/?token=[redacted] failed"
    )


@pytest.mark.django_db
def test_rotate_keys_reencrypts_with_the_first_key(zendesk: Connection, settings: Any) -> None:
    old_key = settings.FERNET_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    assert "1 connection" in out.getvalue()
    zendesk.refresh_from_db()
    settings.FERNET_KEYS = [new_key]  # the old key can now be dropped
    assert zendesk.get_secrets() == {"api_token": "zd-token-0123456789abcdef"}
    Fernet(new_key.encode()).decrypt(zendesk.secrets_encrypted.encode())


@pytest.mark.django_db
def test_sync_connection_command_by_name_with_progress(zendesk: Connection) -> None:
    page1 = fixture("incremental_tickets_cursor_page1.json")
    page2 = fixture("incremental_tickets_cursor_page2.json")
    with responses.RequestsMock() as rsps:
        rsps.get(EXPORT_URL, json=page1, match=[responses.matchers.query_param_matcher({"start_time": "0"})])
        rsps.get(EXPORT_URL, json=page2)
        out = StringIO()
        call_command("sync_connection", "Acme Zendesk", stdout=out)
    text = out.getvalue()
    assert "pages     2" in text and "succeeded" in text
    assert SupportTicket.objects.filter(source_key=zendesk.source_key).count() == 5

    with responses.RequestsMock() as rsps:  # --full ignores the saved cursor
        rsps.get(EXPORT_URL, json=page1, match=[responses.matchers.query_param_matcher({"start_time": "0"})])
        rsps.get(EXPORT_URL, json=page2)
        call_command("sync_connection", str(zendesk.pk), "--full", stdout=StringIO())
    run = SyncRun.objects.filter(connection=zendesk).order_by("-pk").first()
    assert run is not None and run.full_refresh and (run.rows_inserted, run.rows_unchanged) == (0, 5)


@pytest.mark.django_db
def test_successful_sync_enqueues_the_recompute_after_commit(
    zendesk: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    from celery import current_app

    from insights import recompute

    scopes: list[recompute.RecomputeScope] = []
    recompute.on_change("test_connectors_probe", {"tickets"})(scopes.append)
    current_app.conf.task_always_eager = True  # run the queued recompute in-process
    try:
        with responses.RequestsMock() as rsps, django_capture_on_commit_callbacks(execute=True) as callbacks:
            rsps.get(EXPORT_URL, json=fixture("incremental_tickets_cursor_page2.json"))
            call_command("sync_connection", str(zendesk.pk), stdout=StringIO())
    finally:
        current_app.conf.task_always_eager = False
        recompute._HOOKS.pop("test_connectors_probe", None)
    # Enqueued only once the page and run had committed (the recompute's own after-commit steps, such as
    # the alerts evaluation it queues, are not the sync's).
    assert [c.__qualname__ for c in callbacks if "record_write" in c.__qualname__] == [
        "record_write.<locals>.after_commit"
    ]
    assert [(s.connection_id, s.families) for s in scopes] == [(zendesk.pk, {"tickets"})]


@pytest.mark.django_db
def test_lost_fernet_key_fails_the_run_with_what_to_do(zendesk: Connection, settings: Any) -> None:
    from connectors.sync import run_sync

    settings.FERNET_KEYS = [Fernet.generate_key().decode()]  # not the key the secrets were written with
    result = run_sync(zendesk.pk)
    assert result.outcome == "failed" and result.run is not None
    assert "can't be decrypted" in result.run.error_message and "FERNET_KEYS" in result.run.error_message
