"""Overlap pairs and the PM's decision on each, kept across every recompute."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .detect import Kind


class OverlapKind(models.TextChoices):
    DUPLICATE = Kind.DUPLICATE, "Duplicate work"
    RELATED = Kind.RELATED, "Related work"
    CONFLICT = Kind.CONFLICT, "Conflict"
    HIDDEN_DEPENDENCY = Kind.HIDDEN_DEPENDENCY, "Hidden dependency"

    @property
    def colour(self) -> str:
        return {
            "duplicate": "#D55E00",
            "related": "#0072B2",
            "conflict": "#CC79A7",
            "hidden_dependency": "#E69F00",
        }[self.value]


class Decision(models.TextChoices):
    OPEN = "open", "Open"
    CONFIRMED = "confirmed", "Confirmed: talk to them"
    DISMISSED = "dismissed", "Dismissed: not an overlap"
    LINKED = "linked", "Linked as a dependency"


class OverlapPair(models.Model):
    """One cross-team pair, identified by its two refs ("item:12", "experiment:4") in sorted order.

    `active` says whether the latest computation still finds it; `decision` is the PM's and a recompute
    never changes it, except re-opening a dismissal when the items changed materially (see services).
    """

    key = models.CharField(max_length=100, unique=True)
    a_ref = models.CharField(max_length=40)
    b_ref = models.CharField(max_length=40)
    item_a = models.ForeignKey(
        "portfolio.PortfolioItem", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    item_b = models.ForeignKey(
        "portfolio.PortfolioItem", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    experiment_a = models.ForeignKey(
        "signals.Experiment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    experiment_b = models.ForeignKey(
        "signals.Experiment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team_a = models.ForeignKey(
        "portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team_b = models.ForeignKey(
        "portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product = models.ForeignKey(
        "portfolio.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=24, choices=OverlapKind.choices)
    score = models.FloatField(default=0)
    similarity = models.FloatField(default=0)
    explanation = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    overlap_start = models.DateField(null=True, blank=True)
    overlap_end = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)
    # What the two items said when the PM dismissed the pair: a later material edit re-opens it.
    snapshot_a = models.TextField(blank=True)
    snapshot_b = models.TextField(blank=True)
    snapshot_similarity = models.FloatField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["active", "decision", "-score"]),
            models.Index(fields=["team_a", "team_b"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.a_ref} / {self.b_ref}"

    @staticmethod
    def make_key(a_ref: str, b_ref: str) -> str:
        return "|".join(sorted((a_ref, b_ref)))


class OverlapRun(models.Model):
    """One computation: when, whether full or incremental, and what it found."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    full = models.BooleanField(default=True)
    items = models.IntegerField(default=0)
    pairs = models.IntegerField(default=0)
    reopened = models.IntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"overlaps run {self.started_at:%Y-%m-%d %H:%M} ({self.pairs} pairs)"
