"""Writes behind the connectors UI: save, test, pause, resume, backfill and delete a connection."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.apps import apps
from django.db import transaction

from .base import CheckResult, Connector, ConnectorError
from .locks import lock_for
from .models import Connection, RunStatus, SyncRun
from .redaction import secret_scope
from .secrets import redact
from .sync import pause_for_attention, request_sync, resume, sync_now

log = logging.getLogger(__name__)

__all__ = [
    "backfill",
    "delete_connection",
    "pause",
    "pause_for_attention",
    "request_sync",
    "resume",
    "start_first_sync",
    "sync_now",
    "test_connection",
]


def start_first_sync(connection: Connection, connector: type[Connector]) -> bool:
    """Queue a new connection's first sync as soon as its row commits, instead of one full interval
    later (beat counts an interval from when it loads a schedule). Not for push-only sources (webhook,
    CSV upload) or a paused connection. True if a run was queued."""
    if not connection.enabled or not _pulls(connector, connection):
        return False
    return request_sync(connection, trigger="first") is not None


def _pulls(connector: type[Connector], connection: Connection) -> bool:
    try:
        return bool(connector(connection.config, {}).streams())
    except Exception:  # a connector that can't list streams without its secrets still pulls
        return True


def test_connection(
    connector: type[Connector], config: dict[str, Any], secrets: dict[str, str]
) -> CheckResult:
    """Call check() and turn any failure into an answer the lead can act on (with no secret in it, in
    any form: the scope also learns the exact credential headers the HTTP client sends)."""
    with secret_scope(secrets.values()):
        try:
            result = connector(config, secrets).check()
        except ConnectorError as exc:
            return CheckResult(False, redact(exc.message, secrets.values()))
        except Exception as exc:
            log.warning("check() of %s raised %s", connector.kind, type(exc).__name__)
            return CheckResult(
                False,
                f"The test failed unexpectedly ({type(exc).__name__}). Check the settings above; if they "
                "are right, the connector itself may have a bug.",
            )
        return CheckResult(result.ok, redact(result.message, secrets.values()))


def pause(connection: Connection, reason: str) -> None:
    connection.enabled = False
    connection.paused_reason = reason[:500]
    connection.save(update_fields=["enabled", "paused_reason"])


def backfill(connection: Connection, since: date) -> SyncRun | None:
    """Reset every stream's cursor to `since` and queue a sync. None if a sync is already active."""
    if SyncRun.objects.filter(
        connection=connection, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    ).exists():
        return None
    lock = lock_for(connection.pk)
    if not lock.acquire():
        return None
    try:
        connector = connection.build_connector()
        connection.cursors = {s: connector.cursor_for_date(s, since) for s in connector.streams()}
        connection.save(update_fields=["cursors"])
    finally:
        lock.release()
    return request_sync(connection, trigger="backfill")


def sourced_models() -> list[Any]:
    """Every model whose rows carry a source_key (signals, portfolio items, dependencies)."""
    out = []
    for model in apps.get_models():
        names = {f.name for f in model._meta.get_fields()}
        if "source_key" in names and model._meta.app_label in {"signals", "portfolio"}:
            out.append(model)
    return out


def delete_connection(connection: Connection, *, purge: bool) -> dict[str, int]:
    """Delete the connection; with purge, also every row it synced. Refused while it syncs."""
    lock = lock_for(connection.pk)
    if not lock.acquire():
        raise ConnectorError("A sync of this connection is running; wait for it to finish, then delete.")
    try:
        deleted: dict[str, int] = {}
        with transaction.atomic():
            if purge:
                for model in sourced_models():
                    count, _ = model._default_manager.filter(source_key=connection.source_key).delete()
                    if count:
                        deleted[model._meta.label] = count
            connection.delete()
    finally:
        lock.release()
    return deleted
