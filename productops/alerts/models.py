"""Alert rules and their deliveries.

A rule says what (insight kinds, products, teams, metrics, a minimum severity; or a metric threshold),
where (one destination: e-mail, Slack, Microsoft Teams or a signed generic webhook) and when
(immediately or batched hourly, outside quiet hours in the owner's timezone).

A delivery is one insight for one rule at one severity. The unique (rule, insight, severity) row is what
makes alerting exactly-once: an insight alerts once per rule, and again only when its severity rises
(a new row at the higher severity). Sending claims rows with a conditional update, as digests do.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from insights.models import Severity
from productops.core.fields import OpenChoiceField


class RuleScope(models.TextChoices):
    PERSONAL = "personal", "Just me"
    TEAM = "team", "A team"
    CHANNEL = "channel", "A shared channel"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    WEBHOOK = "webhook", "Generic webhook"


class Cadence(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    HOURLY = "hourly", "Batched hourly"


class Comparator(models.TextChoices):
    ABOVE = "above", "rises above"
    BELOW = "below", "falls below"


HOUR_CHOICES = [(h, f"{h:02d}:00") for h in range(24)]


class AlertRule(models.Model):
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules")
    scope = models.CharField(max_length=16, choices=RuleScope.choices, default=RuleScope.PERSONAL)
    team = models.ForeignKey(
        "portfolio.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="For a team rule: e-mail goes to every member of this team.",
    )
    enabled = models.BooleanField(default=True)

    # What. Empty filters match everything.
    kinds = models.JSONField(default=list, blank=True, help_text="Insight kinds; none means every kind.")
    products = models.ManyToManyField("portfolio.Product", blank=True, related_name="+")
    teams = models.ManyToManyField("portfolio.Team", blank=True, related_name="+")
    metrics = models.ManyToManyField("signals.Metric", blank=True, related_name="+")
    min_severity = models.SmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    # Or a metric threshold: the metric's latest daily value crossing `threshold` raises an insight.
    threshold_metric = models.ForeignKey(
        "signals.Metric", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    comparator = models.CharField(max_length=8, choices=Comparator.choices, blank=True)
    threshold = models.FloatField(null=True, blank=True)

    # Where.
    channel = OpenChoiceField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    email_to = models.TextField(
        blank=True, help_text="For a shared channel by e-mail: addresses, one per line or comma-separated."
    )
    slack_channel = models.CharField(
        max_length=80, blank=True, help_text="With a bot token: the channel to post in, e.g. #product-alerts."
    )
    # Tokens, webhook URLs and the signing secret: Fernet-encrypted (connectors.secrets), never shown again.
    secrets_encrypted = models.TextField(blank=True)

    # When.
    cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.IMMEDIATE)
    quiet_start = models.SmallIntegerField(choices=HOUR_CHOICES, null=True, blank=True)
    quiet_end = models.SmallIntegerField(choices=HOUR_CHOICES, null=True, blank=True)

    # Destination health, shown on the rule.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def kind_labels(self) -> list[str]:
        from insights.kinds import KINDS

        return [KINDS[k].label if k in KINDS else k for k in self.kinds]

    @property
    def is_threshold(self) -> bool:
        return self.threshold_metric_id is not None

    @property
    def has_quiet_hours(self) -> bool:
        return (
            self.quiet_start is not None and self.quiet_end is not None and self.quiet_start != self.quiet_end
        )


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    CLAIMED = "claimed", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, will retry"
    GAVE_UP = "gave_up", "Failed, gave up"


class AlertDelivery(models.Model):
    """One insight for one rule at one severity: pending until `due_at`, then claimed, then sent."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="deliveries")
    insight = models.ForeignKey("insights.Insight", on_delete=models.CASCADE, related_name="+")
    severity = models.SmallIntegerField(choices=Severity.choices)
    escalation = models.BooleanField(default=False, help_text="Sent again because the severity rose.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    due_at = models.DateTimeField(default=timezone.now)
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "insight", "severity"], name="alerts_delivery_rule_insight_severity"
            )
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["rule", "insight"]),
        ]

    def __str__(self) -> str:
        return f"insight {self.insight_id} for rule {self.rule_id} ({self.status})"
