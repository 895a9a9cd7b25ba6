"""The one sync loop that every connector runs through.

    for each stream, for each page the connector yields:
        in one transaction: upsert the page's records, save the stream's cursor and the run's counts

A crash at any point therefore loses nothing (the cursor never runs ahead of the committed rows) and
re-reading duplicates nothing (rows upsert on (source_key, external_id)). A lock makes sure a
connection never syncs twice at once; the run that takes the lock adopts a queued run, or abandons a
"running" one whose worker died (it can't still be running: we hold its lock).

Errors: a permanent ConnectorError pauses the connection, records a "connector needs attention"
insight and e-mails the leads; a transient one asks the caller (the Celery task, or the CLI) to retry
after `backoff_delay`, until CONNECTOR_MAX_ATTEMPTS, then fails the run. A source that asks to wait
longer than CONNECTOR_RETRY_CAP (a huge Retry-After, a rate-limit reset hours away) fails the run with
that reason at once, so nothing sits queued for hours and "Sync now" stays free; the next scheduled
sync resumes from the saved cursor.

Every message stored or sent (run history, the connection's last error, the attention insight and
e-mail, logs) passes through connectors.redaction inside a `secret_scope` of the connection's secrets.

Dead workers: a run records the Celery node and main process that claimed it. `recover_dead_runs`
(called by every worker's watchdog thread and by the reaper) abandons a running run whose worker has no
fresh heartbeat, or restarted since, and queues a new one, but only when it can take the connection's
lock: a run whose lock is still held is still running somewhere and is left alone.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from productops.core import workers
from productops.core.workers import dead_worker_after
from productops.signals.fields import date_problem
from productops.signals.ingest import UpsertResult, upsert
from productops.signals.services import DATE_COLUMNS, WriteScope, record_write

from .base import REGISTRY, Connector, ConnectorError, Page, Sibling, data_family
from .locks import SyncLock, lock_for
from .models import Connection, RunStatus, SyncRun
from .redaction import redact, secret_scope

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
ABANDONED_MESSAGE = (
    "The worker running this sync stopped (it was killed or restarted) before the sync finished. "
    "Every page it committed is kept, and the next sync resumes from the saved cursor."
)


def max_attempts() -> int:
    return int(getattr(settings, "CONNECTOR_MAX_ATTEMPTS", 5))


def retry_cap() -> float:
    return float(getattr(settings, "CONNECTOR_RETRY_CAP", 600))


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the source's Retry-After.

    attempt 1 waits up to base, attempt 2 up to 2*base, ...; never more than CONNECTOR_RETRY_CAP
    seconds (a longer Retry-After fails the run instead: see _failed).
    """
    base = float(getattr(settings, "CONNECTOR_RETRY_BASE", 5))
    cap = retry_cap()
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return min(delay, cap)


def _when(seconds: float) -> str:
    at = timezone.now() + timedelta(seconds=seconds)
    if seconds < 120:
        return f"in {seconds:.0f}s"
    return (
        f"at {at:%H:%M} UTC (in {seconds / 60:.0f} min)" if seconds < 86400 else f"at {at:%Y-%m-%d %H:%M} UTC"
    )


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
    scope: WriteScope = field(default_factory=WriteScope)  # families, products and dates written
    skipped: list[str] = field(default_factory=list)  # records refused at ingest, and why


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
    worker: str = "",
    worker_pid: int = 0,
) -> SyncResult:
    """One attempt at syncing a connection, under its lock. Safe to call from many workers at once.

    `run_id` names the run a message was sent for; if that run has already finished (a message
    redelivered after its worker died, once recovery has queued a new run), the message is dropped."""
    lock = lock_for(connection_id)
    if not lock.acquire():
        log.info("connection %s is already syncing; skipping (run %s)", connection_id, run_id)
        queued = run_id is not None and SyncRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).exists()
        return SyncResult(
            "locked" if queued else "skipped", message="Another sync of this connection is running."
        )
    try:
        connection = Connection.objects.filter(pk=connection_id).first()
        if connection is None:
            return SyncResult("skipped", message="The connection no longer exists.")
        if run_id is not None:
            named = SyncRun.objects.filter(pk=run_id).first()
            if named is None or named.status not in ACTIVE:
                log.info(
                    "connection %s: run %s is no longer active; dropping a stale message",
                    connection_id,
                    run_id,
                )
                return SyncResult("skipped", run=named, message="That run has already finished.")
        if not connection.enabled and trigger != "cli":
            # A paused connection's beat entry is disabled; this is a message that was already queued.
            stale = SyncRun.objects.filter(connection=connection, status=RunStatus.QUEUED).first()
            if stale is not None:
                _finish(stale, RunStatus.ABANDONED, "The connection is paused; resume it to sync again.")
            return SyncResult("skipped", run=stale, message="The connection is paused.")
        if getattr(REGISTRY.get(connection.kind), "import_kind", None):
            # A "CSV file" connection pulls nothing; its active run, if any, is an upload's import job.
            return SyncResult("skipped", message="This connection imports uploaded files only.")
        run = _claim_run(connection, trigger=trigger, full=full)
        return _execute(connection, run, lock, progress, worker=worker, worker_pid=worker_pid)
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


def _execute(
    connection: Connection,
    run: SyncRun,
    lock: SyncLock,
    progress: Progress | None,
    *,
    worker: str = "",
    worker_pid: int = 0,
) -> SyncResult:
    try:
        secrets = list(connection.get_secrets().values())
    except ImproperlyConfigured:
        secrets = []  # reported below, when the connector asks for them
    with secret_scope(secrets):
        return _execute_scoped(connection, run, lock, progress, worker=worker, worker_pid=worker_pid)


def _execute_scoped(
    connection: Connection,
    run: SyncRun,
    lock: SyncLock,
    progress: Progress | None,
    *,
    worker: str,
    worker_pid: int,
) -> SyncResult:
    from celery.exceptions import SoftTimeLimitExceeded

    secret_values: list[str] = []
    stored = dict(connection.cursors or {})
    now = timezone.now()
    run.status = RunStatus.RUNNING
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.attempts += 1
    run.cursor_before = {} if run.full_refresh else dict(stored)
    run.error_message = ""
    run.worker, run.worker_pid = worker, worker_pid
    run.retry_at, run.rate_limited = None, False
    run.save(
        update_fields=[
            "status",
            "started_at",
            "heartbeat_at",
            "attempts",
            "cursor_before",
            "error_message",
            "worker",
            "worker_pid",
            "retry_at",
            "rate_limited",
        ]
    )
    pages_before = run.pages
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
                # A soft time limit waits for the page's commit (or rollback), never cuts it in half.
                with workers.soft_limit_deferred(), transaction.atomic():
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
                total.scope.merge(wrote.scope)
                total.skipped += wrote.skipped
                lock.refresh()
                if progress is not None:
                    run.refresh_from_db()
                    progress(run, stream)
    except ConnectorError as exc:
        run.refresh_from_db()
        return _failed(connection, run, exc, redact(exc.message, secret_values), secret_values)
    except SoftTimeLimitExceeded:
        run.refresh_from_db()
        limit = getattr(settings, "CONNECTOR_TASK_SOFT_TIME_LIMIT", 0)
        if run.pages > pages_before:
            # Progress was made: a long backfill continues in time-boxed slices from the saved cursor.
            run.attempts = max(0, run.attempts - 1)
            run.save(update_fields=["attempts"])
        timed_out = ConnectorError(
            f"This sync ran for the {limit}s that CONNECTOR_TASK_SOFT_TIME_LIMIT allows one attempt. Every "
            "committed page is kept; the next attempt continues from the saved cursor.",
            permanent=False,
        )
        return _failed(connection, run, timed_out, timed_out.message, secret_values)
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
        _finish(run, RunStatus.SUCCEEDED, skipped_message(total.skipped), cursor_after=stored)
        Connection.objects.filter(pk=connection.pk).update(
            last_success_at=run.finished_at,
            error_streak=0,
            last_error="",
            rows_synced=F("rows_synced") + total.counts.inserted + total.counts.updated,
        )
        if total.counts.inserted or total.counts.updated:
            record_changes(connection, total)
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


def record_changes(connection: Connection, wrote: PageWrite) -> None:
    """After the run commits: the post-write step (data version, health, scoped recompute)."""
    cls = REGISTRY.get(connection.kind)
    family = data_family(cls, connection.config) if cls else None
    families = set(wrote.scope.families) | ({family} if family else set())
    families |= set(cls.also_fills if cls else ())  # e.g. PostHog results also fill experiments and flags
    products = set(wrote.scope.product_ids) or {connection.product_id}
    record_write(
        connection.source_key,
        families,
        products,
        wrote.scope.since,
        metric_ids=wrote.metric_ids | wrote.scope.metric_ids,
        connection_id=connection.pk,
    )


def _failed(
    connection: Connection, run: SyncRun, exc: ConnectorError, message: str, secret_values: list[str]
) -> SyncResult:
    if exc.permanent:
        result = _fail_run(connection, run, message, secret_values)
        pause_for_attention(connection, message)
        result.outcome = "paused"
        return result
    cap = retry_cap()
    if exc.retry_after is not None and exc.retry_after > cap:
        final = (
            f"{message} That is longer than the {cap:.0f}s CONNECTOR_RETRY_CAP allows a run to wait, so this "
            "run stops here; every committed page is kept, and the next scheduled sync (or Sync now, once "
            f"the limit has reset, {_when(exc.retry_after)}) resumes from the saved cursor."
        )
        return _fail_run(connection, run, final, secret_values)
    if run.attempts >= max_attempts():
        final = f"{message} Gave up after {run.attempts} attempts; the next scheduled sync will try again."
        return _fail_run(connection, run, final, secret_values)
    delay = backoff_delay(run.attempts, exc.retry_after)
    # Back to queued (not failed): the same run resumes from the committed cursor on the retry.
    run.status = RunStatus.QUEUED
    run.retry_at = timezone.now() + timedelta(seconds=delay)
    run.rate_limited = exc.rate_limited
    what = "Waiting for the rate limit" if exc.rate_limited else f"Attempt {run.attempts} failed"
    run.error_message = f"{what}: {message} Retrying {_when(delay)}."
    run.traceback = redact(traceback.format_exc(), secret_values)
    run.save(update_fields=["status", "error_message", "traceback", "retry_at", "rate_limited"])
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


def implausible_date(label: str, row: dict[str, Any]) -> str:
    """Why the row's date column is not a plausible date ("" when it is, or the model has none)."""
    column = DATE_COLUMNS.get(label)
    value = row.get(column) if column else None
    problem = date_problem(value) if isinstance(value, date) else None
    return f"{column} {value:%Y-%m-%d} {problem}" if problem and value is not None else ""


def skipped_message(skipped: list[str], shown: int = 5) -> str:
    if not skipped:
        return ""
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"{len(skipped)} record(s) were skipped: " + "; ".join(skipped[:shown]) + more + ". "
        "Fix them in the source; the next sync reads them again."
    )


def write_page(connection: Connection, page: Page) -> PageWrite:
    """Upsert a page's records and their children. Must run inside the page's transaction."""
    out = PageWrite()
    source_key = connection.source_key
    parents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    children: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for record in page.records:
        model = apps.get_model(record.model)
        row = dict(record.values)
        problem = implausible_date(record.model, row)
        if problem:
            out.rows_read += 1
            # One record with a sentinel date (9999-12-28) must not take every page down, nor stop the sync.
            out.skipped.append(f"{record.model.split('.')[-1]} {record.external_id}: {problem}")
            continue
        if _has_field(model, "source_key"):
            row.update(source_key=source_key, external_id=record.external_id, connection_id=connection.pk)
        for fk in ("product", "team"):
            if f"{fk}_id" not in row and getattr(connection, f"{fk}_id") and _has_field(model, fk):
                row[f"{fk}_id"] = getattr(connection, f"{fk}_id")
        parents[record.model].append(row)
        out.rows_read += 1
        for child_label, child_rows, fk_name in record.children:
            for child in child_rows:
                out.rows_read += 1
                problem = implausible_date(child_label, child)
                if problem:
                    out.skipped.append(f"{child_label.split('.')[-1]} of {record.external_id}: {problem}")
                    continue
                children[(record.model, child_label, fk_name)].append((record.external_id, dict(child)))

    pks: dict[str, dict[str, int]] = {}
    for label, rows in parents.items():
        model = apps.get_model(label)
        for group in _group_by_columns(rows):
            out.counts += upsert(model, group)
        out.scope.add(label, rows)
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
        out.scope.add(child_label, rows)

    if page.links or page.present_ids is not None:
        # Portfolio sources: parents and dependencies by external id, and items gone at the source.
        from productops.portfolio.services import apply_page_extras

        apply_page_extras(source_key, page)
    return out


# --- Errors that need the lead --------------------------------------------------------------------


def leads_emails() -> list[str]:
    from productops.accounts.roles import Role
    from productops.accounts.services import users_with_role

    return sorted({u.email for u in users_with_role(Role.LEAD) if u.email})


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
    """Abandon runs stuck in running (no heartbeat for CONNECTOR_RUN_TIMEOUT) whose lock is free, and runs
    queued too long; then recover runs of dead workers. A run whose lock is held is still running (a
    slow page, a long vendor wait) and is never marked abandoned under it."""
    now = timezone.now()
    timeout = timedelta(seconds=int(getattr(settings, "CONNECTOR_RUN_TIMEOUT", 3600)))
    # An upload's run follows its import job, which productops.signals.imports recovers on its own.
    running = SyncRun.objects.filter(status=RunStatus.RUNNING, import_job__isnull=True).filter(
        Q(heartbeat_at__lt=now - timeout) | Q(heartbeat_at__isnull=True, started_at__lt=now - timeout)
    )
    reaped = 0
    for run in running:
        lock = lock_for(run.connection_id)
        if not lock.acquire():
            log.info("run %s has had no page for %s but still holds its lock; leaving it", run.pk, timeout)
            continue
        try:
            reaped += SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.ABANDONED,
                finished_at=now,
                error_message=f"No progress for {timeout}; marked abandoned. {ABANDONED_MESSAGE}",
            )
        finally:
            lock.release()
    queued = SyncRun.objects.filter(
        status=RunStatus.QUEUED, queued_at__lt=now - 6 * timeout, import_job__isnull=True
    )
    reaped += queued.update(
        status=RunStatus.ABANDONED,
        finished_at=now,
        error_message="This run waited in the queue too long (is a worker running the connectors queue?).",
    )
    if reaped:
        log.warning("reaper abandoned %s stuck sync runs", reaped)
    reaped += len(recover_dead_runs())
    from productops.signals.imports import recover_dead_jobs

    recover_dead_jobs()
    return reaped


# --- Dead workers -----------------------------------------------------------------------------------


def worker_is_dead(run: SyncRun, heartbeats: dict[str, tuple[Any, int]], now: Any) -> bool:
    """No fresh heartbeat from the run's worker node, or the node restarted (another main process)."""
    return workers.is_gone(run.worker, run.worker_pid, heartbeats, now)


def take_over(run: SyncRun, *, trigger: str = "recovery") -> SyncRun | None:
    """Abandon a run whose worker is gone and queue its successor, if its lock is free. Else None.

    The successor's task is sent only after the lock is released, so it can't find the lock taken."""
    from .tasks import sync_connection

    lock = lock_for(run.connection_id)
    if not lock.acquire():
        return None
    try:
        with transaction.atomic():
            abandoned = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.ABANDONED,
                finished_at=timezone.now(),
                error_message=f"{ABANDONED_MESSAGE} A new run took over.",
            )
            if not abandoned:
                return None
            connection = Connection.objects.get(pk=run.connection_id)
            successor = queue_run(connection, trigger=trigger, full=run.full_refresh)
    finally:
        lock.release()
    if successor is not None:
        connection_id, run_id = connection.pk, successor.pk
        transaction.on_commit(lambda: sync_connection.delay(connection_id, run_id))
    return successor


def recover_dead_runs() -> list[SyncRun]:
    """Take over every running run whose worker stopped sending heartbeats (killed, OOM, host lost)."""
    now = timezone.now()
    heartbeats = workers.heartbeats()
    recovered = []
    for run in SyncRun.objects.filter(status=RunStatus.RUNNING).exclude(worker=""):
        if not worker_is_dead(run, heartbeats, now):
            continue
        successor = take_over(run)
        if successor is not None:
            log.warning(
                "connection %s: worker %s of run %s is gone; run %s takes over",
                run.connection_id,
                run.worker,
                run.pk,
                successor.pk,
            )
            recovered.append(successor)
    return recovered


def sync_now(connection: Connection) -> tuple[SyncRun | None, str]:
    """What "Sync now" does: queue a run, or take over an abandoned one, or say why it has to wait.

    Returns (run, outcome): "queued"; "took_over" (the running run's worker is dead); "nudged" (a
    retry waiting out a backoff, or a run queued so long its message was probably lost, is sent to the
    workers again now; a duplicate message is harmless: the lock and the stale-run check drop it);
    "already_queued", "running" or "rate_limited" (nothing to do; the message says why).
    """
    from .tasks import sync_connection

    run = request_sync(connection, trigger="manual")
    if run is not None:
        return run, "queued"
    active = SyncRun.objects.filter(connection=connection, status__in=ACTIVE).first()
    if active is None:  # it finished in between
        run = request_sync(connection, trigger="manual")
        return run, "queued" if run is not None else "running"
    if active.status == RunStatus.RUNNING:
        heartbeats = workers.heartbeats()
        stalled = active.heartbeat_at is None or active.heartbeat_at < timezone.now() - dead_worker_after()
        if (active.worker and worker_is_dead(active, heartbeats, timezone.now())) or (
            not active.worker and stalled
        ):
            successor = take_over(active, trigger="manual")
            if successor is not None:
                return successor, "took_over"
        return active, "running"
    now = timezone.now()
    if active.rate_limited and active.retry_at and active.retry_at > now:
        return active, "rate_limited"
    waiting_retry = active.retry_at is not None and active.retry_at > now
    lost = active.retry_at is None and active.queued_at < now - 2 * dead_worker_after()
    if not (waiting_retry or lost):
        return active, "already_queued"
    SyncRun.objects.filter(pk=active.pk).update(retry_at=None)
    connection_id, run_id = connection.pk, active.pk
    transaction.on_commit(lambda: sync_connection.delay(connection_id, run_id))
    return active, "nudged"


# --- Runs that write without the loop (file uploads: connectors.uploads) ----------------------------


def fail_run(connection: Connection, run: SyncRun, message: str) -> SyncResult:
    """Record a failed run (its traceback, the connection's error streak)."""
    return _fail_run(connection, run, message, [])
