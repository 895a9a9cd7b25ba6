"""Objectives, key results, their check-ins, and the alignment of portfolio work to key results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Level(models.TextChoices):
    COMPANY = "company", "Company"
    PRODUCT = "product", "Product"
    TEAM = "team", "Team"


class Objective(models.Model):
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.PRODUCT)
    product = models.ForeignKey(
        "portfolio.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="objectives"
    )
    team = models.ForeignKey(
        "portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="objectives"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="objectives"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    # "manual" for the UI, "csv" for imports, "demo" for the demo; external_id makes re-imports upserts.
    source_key = models.CharField(max_length=64, default="manual")
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["period_start", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key", "external_id"],
                condition=~models.Q(external_id=""),
                name="goals_objective_source_uniq",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="goals_objective_period"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class KrAggregation(models.TextChoices):
    SUM = "sum", "Sum over the period"
    MEAN = "mean", "Mean over the period"
    LAST = "last", "Last value in the period"


class KrStatus(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    NO_DATA = "no_data", "Not enough data"
    MANUAL = "manual", "Updated by hand"

    @property
    def colour(self) -> str:
        return {"on_track": "good", "at_risk": "bad", "no_data": "warn", "manual": "running"}[self.value]


class KeyResult(models.Model):
    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="key_results")
    title = models.CharField(max_length=300)
    start_value = models.FloatField(default=0)
    target_value = models.FloatField()
    unit = models.CharField(max_length=32, blank=True, help_text="e.g. %, EUR, users, seconds")
    # Bound to a metric: progress comes from the data. Unbound: from the check-ins.
    metric = models.ForeignKey(
        "signals.Metric", null=True, blank=True, on_delete=models.SET_NULL, related_name="key_results"
    )
    dimension_key = models.CharField(max_length=64, blank=True)
    dimension_value = models.CharField(max_length=128, blank=True)
    aggregation = models.CharField(max_length=8, choices=KrAggregation.choices, default=KrAggregation.LAST)
    # Computed at the last recompute (bound) or set by the last check-in (hand-updated).
    current_value = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=KrStatus.choices, default=KrStatus.MANUAL)
    projection = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    source_key = models.CharField(max_length=64, default="manual")
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["objective_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key", "external_id"],
                condition=~models.Q(external_id=""),
                name="goals_keyresult_source_uniq",
            )
        ]
        indexes = [models.Index(fields=["metric"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_bound(self) -> bool:
        return self.metric_id is not None

    @property
    def progress(self) -> float | None:
        """Share of the way from start to target, 0..1 (None without a current value)."""
        if self.current_value is None or self.target_value == self.start_value:
            return None
        share = (self.current_value - self.start_value) / (self.target_value - self.start_value)
        return max(0.0, min(1.0, share))

    @property
    def progress_pct(self) -> int | None:
        p = self.progress
        return None if p is None else round(p * 100)

    @property
    def status_colour(self) -> str:
        return KrStatus(self.status).colour


class KeyResultCheckIn(models.Model):
    """A hand update: a value (optional on a bound key result) and a comment, by whom and when."""

    key_result = models.ForeignKey(KeyResult, on_delete=models.CASCADE, related_name="check_ins")
    value = models.FloatField(null=True, blank=True)
    comment = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"check-in on {self.key_result_id}"


class AlignmentStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class Alignment(models.Model):
    """A portfolio item serving a key result. Suggestions come from the matcher; a PM confirms or rejects
    them. Confirmed and rejected rows are decisions: a recompute never changes them, and a rejected pair
    is never suggested again."""

    item = models.ForeignKey("portfolio.PortfolioItem", on_delete=models.CASCADE, related_name="alignments")
    key_result = models.ForeignKey(KeyResult, on_delete=models.CASCADE, related_name="alignments")
    status = models.CharField(
        max_length=16, choices=AlignmentStatus.choices, default=AlignmentStatus.SUGGESTED
    )
    score = models.FloatField(null=True, blank=True, help_text="The matcher's similarity, when suggested.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "key_result"], name="goals_alignment_uniq")]
        indexes = [models.Index(fields=["key_result", "status"])]

    def __str__(self) -> str:
        return f"{self.item_id} -> {self.key_result_id} ({self.status})"
