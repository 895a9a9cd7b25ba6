"""The one sync loop that every connector runs through.

    for each stream, for each page the connector yields:
        in one transaction: upsert the page's records, save the stream's cursor and the run's counts

A crash at any point therefore loses nothing (the cursor never runs ahead of the committed rows) and
re-reading duplicates nothing (rows upsert on (source_key, external_id)). A lock makes sure a
connection never syncs twice at once; the run that takes the lock adopts a queued run, or abandons a
"running" one whose worker died (it can't still be running: we hold its lock).

Errors: a permanent ConnectorError pauses the connection, records a "connector needs attention"
insight and e-mails the leads; a transient one asks the caller (the Celery task, or the CLI) to retry
after `backoff_delay`, until CONNECTOR_MAX_ATTEMPTS, then fails the run.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from productops.signals.ingest import UpsertResult, upsert

from .base import REGISTRY, Connector, ConnectorError, Page, Sibling, data_family
from .locks import SyncLock, lock_for
from .models import Connection, RunStatus, SyncRun
from .secrets import redact

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
ABANDONED_MESSAGE = (
    "The worker running this sync stopped (it was killed or restarted) before the sync finished. "
    "Every page it committed is kept, and the next sync resumes from the saved cursor."
)


def max_attempts() -> int:
    return int(getattr(settings, "CONNECTOR_MAX_ATTEMPTS", 5))


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the source's Retry-After.

    attempt 1 waits up to base, attempt 2 up to 2*base, ... capped at CONNECTOR_RETRY_CAP seconds.
    """
    base = float(getattr(settings, "CONNECTOR_RETRY_BASE", 5))
    cap = float(getattr(settings, "CONNECTOR_RETRY_CAP", 600))
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


@dataclass
class SyncResult:
    """What one attempt did. `outcome`: succeeded, retry, failed, paused or skipped."""

    outcome: str
    run: SyncRun | None = None
    retry_in: float | None = None
    message: str = ""


@dataclass
class PageWrite:
    counts: UpsertResult = field(default_factory=UpsertResult)
    rows_read: int = 0
    metric_ids: set[int] = field(default_factory=set)


Progress = Callable[[SyncRun, str], None]


# --- Queueing -------------------------------------------------------------------------------------


def queue_run(connection: Connection, *, trigger: str, full: bool = False) -> SyncRun | None:
    """Create a queued run unless the connection already has a queued or running one (then None).

    A partial unique index enforces "one active run per connection", so concurrent callers can't both
    succeed; the caller enqueues the task only when it got a run.
    """
    try:
        with transaction.atomic():
            return SyncRun.objects.create(connection=connection, trigger=trigger, full_refresh=full)
    except IntegrityError:
        return None


def request_sync(connection: Connection, *, trigger: str = "manual", full: bool = False) -> SyncRun | None:
    """Queue a run and, once that commits, the task that executes it. None if one is already active."""
    from .tasks import sync_connection

    run = queue_run(connection, trigger=trigger, full=full)
    if run is not None:
        connection_id, run_id = connection.pk, run.pk
        transaction.on_commit(lambda: sync_connection.delay(connection_id, run_id))
    return run


# --- The loop -------------------------------------------------------------------------------------


def run_sync(
    connection_id: int,
    *,
    run_id: int | None = None,
    trigger: str = "schedule",
    full: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """One attempt at syncing a connection, under its lock. Safe to call from many workers at once."""
    lock = lock_for(connection_id)
    if not lock.acquire():
        log.info("connection %s is already syncing; skipping (run %s)", connection_id, run_id)
        return SyncResult("skipped", message="Another sync of this connection is running.")
    try:
        connection = Connection.objects.filter(pk=connection_id).first()
        if connection is None:
            return SyncResult("skipped", message="The connection no longer exists.")
        if not connection.enabled and trigger != "cli":
            # A paused connection's beat entry is disabled; this is a message that was already queued.
            stale = SyncRun.objects.filter(connection=connection, status=RunStatus.QUEUED).first()
            if stale is not None:
                _finish(stale, RunStatus.ABANDONED, "The connection is paused; resume it to sync again.")
            return SyncResult("skipped", run=stale, message="The connection is paused.")
        run = _claim_run(connection, trigger=trigger, full=full)
        return _execute(connection, run, lock, progress)
    finally:
        lock.release()


def _claim_run(connection: Connection, *, trigger: str, full: bool) -> SyncRun:
    """Under the lock: adopt the active queued run, abandon a dead running one, or create one."""
    for _ in range(5):
        active = SyncRun.objects.filter(connection=connection, status__in=ACTIVE).first()
        if active is not None and active.status == RunStatus.RUNNING:
            _finish(active, RunStatus.ABANDONED, ABANDONED_MESSAGE)
            log.warning(
                "connection %s: run %s was left running by a dead worker; abandoned", connection.pk, active.pk
            )
            active = None
        if active is not None:
            if full and not active.full_refresh:
                active.full_refresh = True
                active.save(update_fields=["full_refresh"])
            return active
        run = queue_run(connection, trigger=trigger, full=full)
        if run is not None:
            return run
    raise RuntimeError(f"could not claim a run for connection {connection.pk}")


def _execute(connection: Connection, run: SyncRun, lock: SyncLock, progress: Progress | None) -> SyncResult:
    secret_values: list[str] = []
    stored = dict(connection.cursors or {})
    now = timezone.now()
    run.status = RunStatus.RUNNING
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.attempts += 1
    run.cursor_before = {} if run.full_refresh else dict(stored)
    run.error_message = ""
    run.save(
        update_fields=["status", "started_at", "heartbeat_at", "attempts", "cursor_before", "error_message"]
    )
    total = PageWrite()
    try:
        cls = REGISTRY.get(connection.kind)
        if cls is None:
            raise ConnectorError(
                f"No connector of kind {connection.kind!r} is installed. Add its module to "
                "PRODUCTOPS_CONNECTORS (or PRODUCTOPS_EXTRA_CONNECTORS) and restart, or delete this "
                "connection.",
                permanent=True,
            )
        secrets = connection.get_secrets()
        secret_values = list(secrets.values())
        connector: Connector = cls(connection.config, secrets, connection=connection)
        for stream in connector.streams():
            cursor = None if run.full_refresh else stored.get(stream)
            for page in connector.read(stream, cursor):
                with transaction.atomic():
                    wrote = write_page(connection, page)
                    stored[stream] = page.cursor
                    Connection.objects.filter(pk=connection.pk).update(cursors=stored)
                    SyncRun.objects.filter(pk=run.pk).update(
                        pages=F("pages") + 1,
                        rows_read=F("rows_read") + wrote.rows_read,
                        rows_inserted=F("rows_inserted") + wrote.counts.inserted,
                        rows_updated=F("rows_updated") + wrote.counts.updated,
                        rows_unchanged=F("rows_unchanged") + wrote.counts.unchanged,
                        cursor_after=stored,
                        heartbeat_at=timezone.now(),
                    )
                total.counts += wrote.counts
                total.rows_read += wrote.rows_read
                total.metric_ids |= wrote.metric_ids
                lock.refresh()
                if progress is not None:
                    run.refresh_from_db()
                    progress(run, stream)
    except ConnectorError as exc:
        run.refresh_from_db()
        return _failed(connection, run, exc, redact(exc.message, secret_values), secret_values)
    except ImproperlyConfigured as exc:  # e.g. FERNET_KEYS lost the key these secrets were written with
        run.refresh_from_db()
        return _fail_run(connection, run, str(exc), secret_values)
    except Exception as exc:
        run.refresh_from_db()
        name = cls.label if (cls := REGISTRY.get(connection.kind)) else connection.kind
        message = (
            f"The {name} connector failed unexpectedly ({type(exc).__name__}). Every committed page is kept. "
            "The traceback below is for whoever maintains the connector; the next scheduled sync will try "
            "again."
        )
        return _fail_run(connection, run, message, secret_values)

    with transaction.atomic():
        run.refresh_from_db()
        _finish(run, RunStatus.SUCCEEDED, "", cursor_after=stored)
        Connection.objects.filter(pk=connection.pk).update(
            last_success_at=run.finished_at,
            error_streak=0,
            last_error="",
            rows_synced=F("rows_synced") + total.counts.inserted + total.counts.updated,
        )
        if total.counts.inserted or total.counts.updated:
            _enqueue_recompute(connection, sorted(total.metric_ids))
    log.info(
        "connection %s run %s succeeded: %s pages, %s read, %s inserted, %s updated, %s unchanged",
        connection.pk,
        run.pk,
        run.pages,
        run.rows_read,
        run.rows_inserted,
        run.rows_updated,
        run.rows_unchanged,
    )
    return SyncResult("succeeded", run=run)


def _enqueue_recompute(connection: Connection, metric_ids: list[int]) -> None:
    cls = REGISTRY.get(connection.kind)
    family = data_family(cls, connection.config) if cls else None
    families = [family] if family else []
    connection_id = connection.pk

    def enqueue() -> None:
        from insights.tasks import recompute_after_sync

        recompute_after_sync.delay(connection_id, families, metric_ids)

    transaction.on_commit(enqueue)


def _failed(
    connection: Connection, run: SyncRun, exc: ConnectorError, message: str, secret_values: list[str]
) -> SyncResult:
    if exc.permanent:
        result = _fail_run(connection, run, message, secret_values)
        pause_for_attention(connection, message)
        result.outcome = "paused"
        return result
    if run.attempts >= max_attempts():
        final = f"{message} Gave up after {run.attempts} attempts; the next scheduled sync will try again."
        return _fail_run(connection, run, final, secret_values)
    delay = backoff_delay(run.attempts, exc.retry_after)
    # Back to queued (not failed): the same run resumes from the committed cursor on the retry.
    run.status = RunStatus.QUEUED
    run.error_message = f"Attempt {run.attempts} failed: {message} Retrying in {delay:.0f}s."
    run.traceback = redact(traceback.format_exc(), secret_values)
    run.save(update_fields=["status", "error_message", "traceback"])
    log.warning(
        "connection %s run %s attempt %s: %s; retry in %.1fs",
        connection.pk,
        run.pk,
        run.attempts,
        message,
        delay,
    )
    return SyncResult("retry", run=run, retry_in=delay, message=message)


def _fail_run(connection: Connection, run: SyncRun, message: str, secret_values: list[str]) -> SyncResult:
    tb = redact(traceback.format_exc(), secret_values)
    _finish(run, RunStatus.FAILED, message, traceback_text=tb)
    Connection.objects.filter(pk=connection.pk).update(
        last_error=message, last_error_at=run.finished_at, error_streak=F("error_streak") + 1
    )
    log.error("connection %s run %s failed: %s", connection.pk, run.pk, message)
    return SyncResult("failed", run=run, message=message)


def _finish(
    run: SyncRun, status: str, message: str, *, traceback_text: str | None = None, cursor_after: Any = None
) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.error_message = message
    fields = ["status", "finished_at", "error_message"]
    if traceback_text is not None:
        run.traceback = traceback_text
        fields.append("traceback")
    if cursor_after is not None:
        run.cursor_after = cursor_after
        fields.append("cursor_after")
    run.save(update_fields=fields)


# --- Writing a page -------------------------------------------------------------------------------


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True


def _group_by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    # upsert() wants one column set per call; sources may omit optional columns on some rows.
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return list(groups.values())


def _resolve_siblings(model: type[models.Model], row: dict[str, Any], parent_fk: str, parent_pk: int) -> None:
    """Replace `Sibling` values by the pk of the matching row under the same parent (see base.Sibling)."""
    for name, value in list(row.items()):
        if not isinstance(value, Sibling):
            continue
        related = model._meta.get_field(name.removesuffix("_id")).related_model
        pk = (
            related._default_manager.filter(**{parent_fk: parent_pk, value.field: value.value})  # type: ignore[union-attr]
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            raise ConnectorError(
                f"A {model.__name__} row points at a {related.__name__} with {value.field}={value.value!r} "  # type: ignore[union-attr]
                "that its parent record didn't send; the connector must send it first.",
                permanent=True,
            )
        row[name] = pk


def write_page(connection: Connection, page: Page) -> PageWrite:
    """Upsert a page's records and their children. Must run inside the page's transaction."""
    out = PageWrite()
    source_key = connection.source_key
    parents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    children: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for record in page.records:
        model = apps.get_model(record.model)
        row = dict(record.values)
        if _has_field(model, "source_key"):
            row.update(source_key=source_key, external_id=record.external_id, connection_id=connection.pk)
        for fk in ("product", "team"):
            if f"{fk}_id" not in row and getattr(connection, f"{fk}_id") and _has_field(model, fk):
                row[f"{fk}_id"] = getattr(connection, f"{fk}_id")
        parents[record.model].append(row)
        out.rows_read += 1
        for child_label, child_rows, fk_name in record.children:
            for child in child_rows:
                children[(record.model, child_label, fk_name)].append((record.external_id, dict(child)))
                out.rows_read += 1

    pks: dict[str, dict[str, int]] = {}
    for label, rows in parents.items():
        model = apps.get_model(label)
        for group in _group_by_columns(rows):
            out.counts += upsert(model, group)
        if _has_field(model, "source_key"):
            ids = [r["external_id"] for r in rows]
            pks[label] = dict(
                model._default_manager.filter(source_key=source_key, external_id__in=ids).values_list(
                    "external_id", "pk"
                )
            )
            if label == "signals.Metric":
                out.metric_ids |= set(pks[label].values())

    for (parent_label, child_label, fk_name), items in children.items():
        child_model = apps.get_model(child_label)
        fk_attname = child_model._meta.get_field(fk_name.removesuffix("_id")).attname
        parent_pks = pks.get(parent_label, {})
        rows = []
        for parent_external_id, child in items:
            parent_pk = parent_pks.get(parent_external_id)
            if parent_pk is None:
                raise ConnectorError(
                    f"A {child_label} row points at {parent_label} {parent_external_id!r}, which this page "
                    "didn't write; the connector must send children with their parent.",
                    permanent=True,
                )
            child[fk_attname] = parent_pk
            _resolve_siblings(child_model, child, fk_attname, parent_pk)
            rows.append(child)
        if parent_label == "signals.Metric":
            out.metric_ids |= {r[fk_attname] for r in rows}
        for group in _group_by_columns(rows):
            out.counts += upsert(child_model, group)

    if page.links or page.present_ids is not None:
        # Portfolio sources: parents and dependencies by external id, and items gone at the source.
        from productops.portfolio.services import apply_page_extras

        apply_page_extras(source_key, page)
    return out


# --- Errors that need the lead --------------------------------------------------------------------


def leads_emails() -> list[str]:
    from productops.accounts.roles import LEAD_GROUP

    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=LEAD_GROUP))
    )
    return sorted({u.email for u in users.distinct() if u.email})


def pause_for_attention(connection: Connection, message: str) -> None:
    """Pause the connection, record a "connector needs attention" insight and e-mail the leads."""
    from insights.kinds import ConnectorAttentionPayload
    from insights.models import InsightKind, Severity
    from insights.services import upsert_insight

    connection.enabled = False
    connection.paused_reason = message[:500]
    connection.save(update_fields=["enabled", "paused_reason"])
    upsert_insight(
        InsightKind.CONNECTOR_ATTENTION,
        f"connection:{connection.pk}",
        title=f"Connector “{connection.name}” needs attention",
        summary=message,
        severity=Severity.HIGH,
        product_id=connection.product_id,
        payload=ConnectorAttentionPayload(connection_id=connection.pk, kind=connection.kind),
    )
    recipients = leads_emails()
    if recipients:
        context = {"connection": connection, "message": message, "site_url": settings.SITE_URL}
        subject = render_to_string("emails/connector_attention-subject.txt", context).strip()
        body = render_to_string("emails/connector_attention-body.txt", context)
        html = render_to_string("emails/connector_attention-body.html", context)
        send_mail(subject, body, None, recipients, html_message=html, fail_silently=True)
    log.warning("connection %s paused: %s", connection.pk, message)


def resume(connection: Connection) -> None:
    from insights.models import Insight, InsightKind, InsightStatus

    connection.enabled = True
    connection.paused_reason = ""
    connection.save(update_fields=["enabled", "paused_reason"])
    Insight.objects.filter(
        kind=InsightKind.CONNECTOR_ATTENTION, key=f"connection:{connection.pk}", status=InsightStatus.NEW
    ).update(status=InsightStatus.RESOLVED, updated_at=timezone.now())


# --- Housekeeping ---------------------------------------------------------------------------------


def reap_stuck_runs() -> int:
    """Mark runs stuck in running (no heartbeat for CONNECTOR_RUN_TIMEOUT) or queued too long as abandoned."""
    from datetime import timedelta

    now = timezone.now()
    timeout = timedelta(seconds=int(getattr(settings, "CONNECTOR_RUN_TIMEOUT", 3600)))
    running = SyncRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=now - timeout) | Q(heartbeat_at__isnull=True, started_at__lt=now - timeout)
    )
    queued = SyncRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=now - 6 * timeout)
    reaped = running.update(
        status=RunStatus.ABANDONED,
        finished_at=now,
        error_message=f"No progress for {timeout}; marked abandoned. {ABANDONED_MESSAGE}",
    )
    reaped += queued.update(
        status=RunStatus.ABANDONED,
        finished_at=now,
        error_message="This run waited in the queue too long (is a worker running the connectors queue?).",
    )
    if reaped:
        log.warning("reaper abandoned %s stuck sync runs", reaped)
    return reaped
