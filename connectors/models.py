from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ScheduleKind(models.TextChoices):
    INTERVAL = "interval", "Every N minutes"
    CRONTAB = "crontab", "Crontab"
    MANUAL = "manual", "Only when started by hand"


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

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

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
    error_message = models.TextField(blank=True, help_text="What failed and what to do, for a user.")
    traceback = models.TextField(blank=True, help_text="For the lead.")

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["connection", "-queued_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.connection} run {self.pk} ({self.status})"


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
