"""Feedback themes, their members, and their links to portfolio items.

A Theme is a stable identity: a recompute matches its new clusters to existing themes (by shared
members and shared key terms), so a PM's rename, a merge and the theme's history survive.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from productops.core.fields import OpenChoiceField


class FeedbackSource(models.TextChoices):
    NPS = "nps", "NPS comment"
    TICKET = "ticket", "Support ticket"
    MENTION = "mention", "Mention"
    KB = "kb", "KB search"
    RESEARCH = "research", "Research highlight"


class ThemeStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    MERGED = "merged", "Merged"  # members now belong to merged_into; future matches redirect there
    RETIRED = "retired", "Retired"  # no longer found by a recompute; kept for history


class Theme(models.Model):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    label = models.CharField(
        max_length=300, help_text="From the cluster's top key phrases; recomputes refresh it."
    )
    custom_name = models.CharField(max_length=300, blank=True, help_text="A PM's rename; never overwritten.")
    # {term: weight} of the cluster's top terms, normalised; used to match clusters across recomputes.
    terms = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ThemeStatus.choices, default=ThemeStatus.ACTIVE)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Split children keep their identity: their members are pinned, so a recompute does not fold them back.
    split_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    size = models.IntegerField(default=0)
    sentiment = models.FloatField(null=True, blank=True)
    recent_volume = models.IntegerField(default=0, help_text="Members in the last 4 weeks of data.")
    previous_volume = models.FloatField(default=0, help_text="Weekly mean over the 8 weeks before, times 4.")
    change = models.FloatField(default=0, help_text="Relative change of recent against previous volume.")
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["product", "status", "-size"])]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.custom_name or self.label


class ThemeMember(models.Model):
    """One piece of feedback in a theme. `quote` is the cleaned text, so pages need no joins per source."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="members")
    source = OpenChoiceField(max_length=16, choices=FeedbackSource.choices)
    object_id = models.BigIntegerField()
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    ts = models.DateTimeField()
    weight = models.FloatField(default=1.0, help_text="How strongly it belongs (NMF loading).")
    sentiment = models.FloatField(null=True, blank=True)
    quote = models.TextField(blank=True)
    segment = models.JSONField(default=dict, blank=True)
    pinned = models.BooleanField(default=False, help_text="Placed by a PM's split; recomputes leave it.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "object_id"], name="feedback_member_uniq")]
        indexes = [models.Index(fields=["theme", "ts"]), models.Index(fields=["product", "ts"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.object_id} in {self.theme_id}"


class ThemeWeekly(models.Model):
    """Members per theme, product and week (Monday, UTC): the rollup that theme volume series are read
    from (the anomaly detector's theme series, the Feedback page's spike check, a theme's chart) instead
    of counting member rows. Rebuilt for a theme whenever its members change: every member write ends in
    `services.refresh_theme_stats`, which rebuilds these rows in the same transaction."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="weekly")
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    week = models.DateField()
    members = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["theme", "week"])]

    def __str__(self) -> str:
        return f"{self.theme_id} {self.week}: {self.members}"


class LinkStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class EvidenceLink(models.Model):
    """A theme is evidence for a portfolio item. Recomputes refresh the score, never a PM's verdict."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="links")
    item = models.ForeignKey(
        "portfolio.PortfolioItem", on_delete=models.CASCADE, related_name="feedback_links"
    )
    score = models.FloatField(default=0)
    method = models.CharField(max_length=32, default="tfidf-cosine")
    status = models.CharField(max_length=16, choices=LinkStatus.choices, default=LinkStatus.SUGGESTED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["theme", "item"], name="feedback_link_uniq")]

    def __str__(self) -> str:
        return f"{self.theme_id} -> {self.item_id} ({self.status})"
