"""Demo alert rules (idempotent), made with the demo users: the PM's own e-mail alert and the lead's
hourly digest of incidents for everyone's inbox. Both e-mail, so the demo stack (file mail under
var/mail) delivers them without any outside service."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from insights.models import Severity

from .models import AlertRule, Cadence, Channel, RuleScope


def create_demo_rules() -> int:
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["pm", "lead"])}
    made = 0
    if "pm" in users:
        _, created = AlertRule.objects.get_or_create(
            owner=users["pm"],
            name="My high-severity anomalies",
            defaults={
                "scope": RuleScope.PERSONAL,
                "kinds": ["anomaly", "incident"],
                "min_severity": Severity.HIGH,
                "channel": Channel.EMAIL,
                "cadence": Cadence.IMMEDIATE,
                "quiet_start": 22,
                "quiet_end": 7,
            },
        )
        made += created
    if "lead" in users:
        _, created = AlertRule.objects.get_or_create(
            owner=users["lead"],
            name="Incidents, hourly, to product-ops",
            defaults={
                "scope": RuleScope.CHANNEL,
                "kinds": ["incident", "metric_threshold", "stale_connector"],
                "min_severity": Severity.MEDIUM,
                "channel": Channel.EMAIL,
                "email_to": "product-ops@example.com",
                "cadence": Cadence.HOURLY,
            },
        )
        made += created
    return made
