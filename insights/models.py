"""Insight rows: one per thing a PM should know, kept across recomputes by (kind, key)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from productops.core.fields import OpenChoiceField


class InsightKind(models.TextChoices):
    ANOMALY = "anomaly", "Anomaly"
    INCIDENT = "incident", "Incident"
    OVERLAP = "overlap", "Overlap"
    THEME = "theme", "Feedback theme"
    NPS_SHIFT = "nps_shift", "NPS shift"
    EXPERIMENT_VERDICT = "experiment_verdict", "Experiment verdict"
    STALE_CONNECTOR = "stale_connector", "Stale connector"
    CONNECTOR_ATTENTION = "connector_attention", "Connector needs attention"
    GOAL_AT_RISK = "goal_at_risk", "Key result at risk"
    REDUNDANT_RESEARCH = "redundant_research", "Redundant research"
    COMPETITOR_SPIKE = "competitor_spike", "Competitor mentions spike"
    DELIVERY_SLIP = "delivery_slip", "Delivery slip"
    CYCLE_TIME_JUMP = "cycle_time_jump", "Cycle time jump"
    METRIC_THRESHOLD = "metric_threshold", "Metric threshold crossed"


class InsightStatus(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    MUTED = "muted", "Muted"

    @property
    def colour(self) -> str:
        return {"new": "#2563eb", "acknowledged": "#d97706", "resolved": "#059669", "muted": "#6b7280"}[
            self.value
        ]


class Severity(models.IntegerChoices):
    INFO = 0, "Info"
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"

    @property
    def colour(self) -> str:
        return ["#6b7280", "#0891b2", "#d97706", "#dc2626", "#7f1d1d"][self.value]


class Insight(models.Model):
    kind = OpenChoiceField(max_length=32, choices=InsightKind.choices)
    # Stable identity within a kind (e.g. "metric:12:2026-11-02"), so a recompute updates, never duplicates.
    key = models.CharField(max_length=255)
    title = models.CharField(max_length=500)
    summary = models.TextField(blank=True)
    severity = models.SmallIntegerField(choices=Severity.choices, default=Severity.LOW)
    score = models.FloatField(default=0)
    status = models.CharField(max_length=16, choices=InsightStatus.choices, default=InsightStatus.NEW)
    muted_until = models.DateTimeField(null=True, blank=True)
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey("portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL)
    # Every product and team the insight concerns (both teams of an overlap; every team owning the product
    # of an anomaly). `product`/`team` stay as the primary one, for display and ordering. Pages, the inbox
    # and the digest filter on these, so a team sees everything that concerns it.
    products = models.ManyToManyField("portfolio.Product", blank=True, related_name="concerned_insights")
    teams = models.ManyToManyField("portfolio.Team", blank=True, related_name="concerned_insights")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # When a recompute last moved the severity, and from what: the inbox marks it "changed" for a PM who
    # saw it before (updated_at moves on every recompute, so it can't say that).
    previous_severity = models.SmallIntegerField(choices=Severity.choices, null=True, blank=True)
    severity_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="insights_insight_kind_key_uniq")]
        indexes = [
            models.Index(fields=["status", "-severity", "-detected_at"]),
            models.Index(fields=["product", "kind", "-detected_at"]),
        ]

    def __str__(self) -> str:
        return self.title


class InsightEvent(models.Model):
    """A PM's action on an insight (acknowledge, resolve, mute, comment): the audit trail."""

    insight = models.ForeignKey(Insight, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=32)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} on {self.insight_id}"


class InsightBand(models.Model):
    """The series behind an anomaly and its expected band, as the detector scored it at the last recompute,
    so the anomaly page draws it without reading the raw series or rerunning the detector per request."""

    insight = models.OneToOneField(Insight, on_delete=models.CASCADE, primary_key=True, related_name="band")
    step_days = models.PositiveSmallIntegerField(default=1)
    # [[ISO time, actual, expected, lower, upper, is_anomaly], ...] around the anomaly's window.
    points = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"band of insight {self.insight_id}"


class PendingRecompute(models.Model):
    """Work a write asked for and no recompute has taken yet: one row per (product, signal family).

    `record_write` merges into these rows (the earliest `since` wins, metric ids add up), so any number
    of writes to one product coalesce into one recompute of it. A worker claims a product
    (`RecomputeClaim`), then takes and deletes that product's rows in one transaction.
    """

    # 0: not tied to one product (portfolio items, metrics without a product): hooks run unscoped.
    product_key = models.BigIntegerField()
    family = models.CharField(max_length=32)
    since = models.DateTimeField(null=True, blank=True)
    metric_ids = models.JSONField(default=list, blank=True)
    connection_ids = models.JSONField(default=list, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product_key", "family"], name="insights_pending_product_family")
        ]

    def __str__(self) -> str:
        return f"recompute {self.family} of product {self.product_key or '-'}"


class RecomputeClaim(models.Model):
    """Who is recomputing a product right now. One row per product; an expired claim may be taken over
    (its worker died). `product_key` -1 is the nightly full recompute."""

    product_key = models.BigIntegerField(unique=True)
    owner = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"claim on {self.product_key} by {self.owner}"


class InboxVisit(models.Model):
    """When a user last opened the insights inbox, and when the visit before that began: what is "new"
    or "changed" is judged against `previous_seen_at`, so reloading the page within a visit keeps the
    markers (a visit ends after INBOX_SESSION_GAP without opening the inbox)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_visit"
    )
    seen_at = models.DateTimeField()
    previous_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} saw the inbox at {self.seen_at}"
