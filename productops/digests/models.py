"""Digest subscriptions, the lead's defaults, team membership and the delivery log.

A user's timezone lives on accounts.Profile (one source of truth for dates and digests); the
subscription form edits it there.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


HOUR_CHOICES = [(h, f"{h:02d}:00") for h in range(24)]


class DigestDefaults(models.Model):
    """The lead's defaults for new subscriptions: one row (pk=1), edited on the lead's digest page."""

    enabled = models.BooleanField(default=True, help_text="New users get the digest unless they turn it off.")
    weekday = models.SmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    hour = models.SmallIntegerField(choices=HOUR_CHOICES, default=9)
    only_notable = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "digest defaults"

    def __str__(self) -> str:
        return "Digest defaults"

    @classmethod
    def load(cls) -> DigestDefaults:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class TeamMembership(models.Model):
    """Which users belong to which teams, so the lead can subscribe a whole team."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    team = models.ForeignKey("portfolio.Team", on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="digests_teammembership_uniq")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Subscription(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest")
    enabled = models.BooleanField(default=True)
    weekday = models.SmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    hour = models.SmallIntegerField(choices=HOUR_CHOICES, default=9, help_text="In your timezone.")
    only_notable = models.BooleanField(
        default=False, help_text="Skip the e-mail in a quiet week instead of sending an 'all quiet' note."
    )
    # Following nothing means following everything: a new user sees the whole portfolio until they narrow it.
    products = models.ManyToManyField("portfolio.Product", blank=True, related_name="+")
    teams = models.ManyToManyField("portfolio.Team", blank=True, related_name="+")
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Digest for {self.user}"


class DeliveryStatus(models.TextChoices):
    CLAIMED = "claimed", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (quiet week)"

    @property
    def colour(self) -> str:
        return {"claimed": "#2563eb", "sent": "#059669", "failed": "#dc2626", "skipped": "#6b7280"}[
            self.value
        ]


class Delivery(models.Model):
    """One user's digest for one ISO week. The unique row is what makes sending exactly-once.

    A worker claims the row (status=claimed, a fresh claim_token) before talking SMTP and marks it
    sent afterwards, both with conditional updates. A row left `claimed` past the claim timeout means
    the worker died in between; the next run takes the claim over and sends.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_deliveries"
    )
    week = models.CharField(max_length=8, help_text="ISO week, e.g. 2026-W48, in the user's timezone.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.CLAIMED)
    claim_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    items = models.PositiveIntegerField(default=0, help_text="How many items the digest held.")
    error = models.TextField(blank=True, help_text="The last failure, for the lead.")
    recovered = models.BooleanField(default=False, help_text="A crashed attempt was taken over and resent.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "week"], name="digests_delivery_user_week_uniq")
        ]
        indexes = [models.Index(fields=["status", "claimed_at"]), models.Index(fields=["-created_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.week} ({self.status})"


class DigestMention(models.Model):
    """An insight a sent digest reported to a user, as it was then: next week's digest says only what
    is new or changed (productops/digests/novelty.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    insight = models.ForeignKey("insights.Insight", on_delete=models.CASCADE, related_name="+")
    week = models.CharField(max_length=8, help_text="ISO week of the digest, e.g. 2026-W48.")
    reported_at = models.DateTimeField(default=timezone.now)
    severity = models.SmallIntegerField(default=0)
    magnitude = models.FloatField(default=0.0, help_text="Events of an incident, size of an anomaly.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "insight", "week"], name="digests_mention_user_insight_week"
            )
        ]
        indexes = [models.Index(fields=["user", "insight", "week"])]

    def __str__(self) -> str:
        return f"{self.insight_id} in {self.user_id}'s {self.week} digest"
