from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class ScheduleKind(models.TextChoices):
    INTERVAL = "interval", "Every N minutes"
    CRONTAB = "crontab", "Crontab"
    MANUAL = "manual", "Only when started by hand"


# Fields the django-celery-beat PeriodicTask mirrors.
SCHEDULE_FIELDS = {"name", "schedule_kind", "interval_minutes", "crontab", "enabled"}


class Health(models.TextChoices):
    OK = "ok", "OK"
    FAILING = "failing", "Failing"
    STALE = "stale", "Stale"
    PAUSED = "paused", "Paused"
    PENDING = "pending", "Waiting for first sync"


# A connection is stale when no sync succeeded for this many of its expected periods.
STALE_PERIODS = 2


class Connection(models.Model):
    """One configured source. Secrets live encrypted in `secrets_encrypted` and are never rendered."""

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(
        max_length=64, help_text="A registered connector kind; validated against the registry."
    )
    config = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True, default="")
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.SET_NULL)
    team = models.ForeignKey("portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL)
    mapping = models.JSONField(default=dict, blank=True, help_text="Source scope -> product/team mapping.")

    schedule_kind = models.CharField(
        max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.INTERVAL
    )
    interval_minutes = models.PositiveIntegerField(default=60)
    crontab = models.CharField(max_length=100, blank=True, help_text="m h dom mon dow, e.g. '0 */6 * * *'")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    enabled = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=500, blank=True)
    cursors = models.JSONField(default=dict, blank=True, help_text="Stream name -> cursor state.")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    error_streak = models.PositiveIntegerField(default=0)
    rows_synced = models.BigIntegerField(default=0)
    # The DB-row lock used when neither PostgreSQL advisory locks nor Redis are available (SQLite):
    # a sync claims the row with a conditional UPDATE and refreshes the expiry after every page.
    lock_token = models.CharField(max_length=64, blank=True, default="")
    lock_expires_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        # Keep the beat entry in step, but only when something it depends on may have changed:
        # the sync loop saves cursors after every page and must not rewrite the PeriodicTask each time.
        if update_fields is None or set(update_fields) & SCHEDULE_FIELDS:
            from .schedule import sync_periodic_task

            sync_periodic_task(self)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        periodic_task = self.periodic_task
        result = super().delete(*args, **kwargs)
        if periodic_task is not None:
            periodic_task.delete()
        return result

    def clean(self) -> None:
        from .base import REGISTRY

        if self.kind not in REGISTRY:
            installed = ", ".join(sorted(REGISTRY)) or "none"
            raise ValidationError(
                {"kind": f"No connector of kind {self.kind!r} is installed (installed: {installed})."}
            )
        if self.schedule_kind == ScheduleKind.CRONTAB:
            from .schedule import parse_crontab

            try:
                parse_crontab(self.crontab)
            except ValueError as exc:
                raise ValidationError({"crontab": str(exc)}) from None
        if self.schedule_kind == ScheduleKind.INTERVAL and self.interval_minutes < 1:
            raise ValidationError({"interval_minutes": "Sync at most once a minute: enter 1 or more."})

    def expected_every(self) -> timedelta | None:
        """How long between two scheduled syncs (crontab-aware); None when only started by hand, and for
        push-only and file-upload connections, whose data comes when the sender sends it."""
        from .schedule import expected_period

        cls = self.connector_class
        if cls is not None and (getattr(cls, "push_only", False) or getattr(cls, "import_kind", None)):
            return None
        return expected_period(self)

    def health(self, now: datetime | None = None) -> Health:
        """The one rule for a connection's state, used by the connectors page, the overview, the digest
        and the stale-connector insight: paused, failing (its last sync failed), stale (no success within
        2x its expected period, crontab-aware; a push-only or manual connection is never stale), pending
        (never synced, and not yet late), else ok."""
        now = now or timezone.now()
        if not self.enabled:
            return Health.PAUSED
        if self.error_streak > 0:
            return Health.FAILING
        period = self.expected_every()
        since = self.last_success_at or self.created_at
        if period is not None and now - since > STALE_PERIODS * period:
            return Health.STALE
        return Health.OK if self.last_success_at is not None else Health.PENDING

    @property
    def connector_class(self) -> Any:
        from .base import REGISTRY

        return REGISTRY.get(self.kind)

    def get_secrets(self) -> dict[str, str]:
        from .secrets import decrypt

        return decrypt(self.secrets_encrypted)

    def set_secrets(self, values: dict[str, str]) -> None:
        from .secrets import encrypt

        self.secrets_encrypted = encrypt(values)

    def build_connector(self) -> Any:
        from .base import get

        return get(self.kind)(self.config, self.get_secrets(), connection=self)

    @property
    def source_key(self) -> str:
        from productops.signals.models import connection_source_key

        return connection_source_key(self.pk)


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned"

    @property
    def colour(self) -> str:
        return {
            "queued": "#6b7280",
            "running": "#2563eb",
            "succeeded": "#059669",
            "failed": "#dc2626",
            "abandoned": "#d97706",
        }[self.value]


class SyncRun(models.Model):
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=32, default="schedule")
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    rows_inserted = models.BigIntegerField(default=0)
    rows_updated = models.BigIntegerField(default=0)
    rows_unchanged = models.BigIntegerField(default=0)
    cursor_before = models.JSONField(default=dict, blank=True)
    cursor_after = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Moves after every page; the reaper reads it."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    full_refresh = models.BooleanField(default=False)
    worker = models.CharField(
        max_length=255, blank=True, help_text="Celery node running the run; its heartbeat tells if it died."
    )
    worker_pid = models.IntegerField(
        default=0, help_text="That worker's main process id when it claimed the run."
    )
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a queued retry is due.")
    rate_limited = models.BooleanField(default=False, help_text="The queued retry waits for a rate limit.")
    error_message = models.TextField(blank=True, help_text="What failed and what to do, for a user.")
    traceback = models.TextField(blank=True, help_text="For the lead.")

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["connection", "-queued_at"]), models.Index(fields=["status"])]
        constraints = [
            # At most one queued-or-running run per connection, enforced by the database: twenty
            # concurrent "Sync now" clicks create one run, and the rest see it.
            models.UniqueConstraint(
                fields=["connection"],
                condition=models.Q(status__in=["queued", "running"]),
                name="connectors_syncrun_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection} run {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def status_colour(self) -> str:
        return RunStatus(self.status).colour

    @property
    def duration(self) -> Any:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class WebhookDelivery(models.Model):
    """One accepted inbound webhook message. The unique (connection, webhook_id) makes replays no-ops."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_deliveries")
    webhook_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now)
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "webhook_id"], name="connectors_webhookdelivery_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection} webhook {self.webhook_id}"
