"""The alert rule form: what, where and when, with write-only secrets.

A stored secret is never put back into the page: its field shows a hint ("set, ends in …abcd") and a
blank value keeps it. The generic webhook's signing secret is generated here and shown once.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from connectors import secrets as secret_store
from connectors.base import ConnectorError
from connectors.ssrf import precheck
from insights import kinds
from insights.models import Severity
from productops.accounts.roles import Role, role_of
from productops.portfolio.models import Product, Team
from productops.signals.models import Metric

from .destinations import new_signing_secret, parse_addresses
from .models import AlertRule, Channel, Comparator, RuleScope

# (form field, channel, key in the encrypted secrets)
SECRET_FIELDS = [
    ("slack_bot_token", Channel.SLACK, "bot_token"),
    ("slack_webhook_url", Channel.SLACK, "webhook_url"),
    ("teams_webhook_url", Channel.TEAMS, "webhook_url"),
    ("webhook_url", Channel.WEBHOOK, "url"),
]
MODE_CHOICES = [("insights", "Insights"), ("threshold", "A metric threshold")]


def _check_url(value: str, what: str) -> None:
    try:
        scheme, *_ = precheck(value)
    except ConnectorError as exc:
        raise ValidationError(f"{what}: {exc.message}") from None
    if scheme != "https":
        raise ValidationError(f"{what} must start with https:// (alerts carry links and data).")


class AlertRuleForm(forms.ModelForm):
    mode = forms.ChoiceField(
        choices=MODE_CHOICES, initial="insights", widget=forms.RadioSelect, label="Alert on"
    )
    kinds = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    min_severity = forms.TypedChoiceField(
        choices=Severity.choices,
        coerce=int,
        initial=Severity.MEDIUM,
        label="Minimum severity",
        help_text="For a threshold: the severity of the insight it raises.",
    )
    slack_bot_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Slack bot token",
        help_text="xoxb-… from a Slack app with the chat:write scope (or use an incoming webhook below).",
    )
    slack_webhook_url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Slack incoming-webhook URL",
        help_text="https://hooks.slack.com/services/… (posts to the channel it was made for).",
    )
    teams_webhook_url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Teams incoming-webhook URL",
        help_text="From the channel's Workflows “Post to a channel when a webhook request is received”.",
    )
    webhook_url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Webhook URL",
        help_text="Receives a signed JSON POST (see docs/alerts.md).",
    )
    new_signing_secret = forms.BooleanField(
        required=False, label="Generate a new signing secret (the old one stops working)"
    )

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "scope",
            "team",
            "enabled",
            "mode",
            "kinds",
            "products",
            "teams",
            "metrics",
            "min_severity",
            "threshold_metric",
            "comparator",
            "threshold",
            "channel",
            "email_to",
            "slack_channel",
            "cadence",
            "quiet_start",
            "quiet_end",
        ]
        widgets = {
            "products": forms.CheckboxSelectMultiple,
            "teams": forms.CheckboxSelectMultiple,
            "email_to": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {
            "scope": "For",
            "teams": "Teams (filter)",
            "threshold_metric": "Metric",
            "channel": "Send to",
            "quiet_start": "Quiet from",
            "quiet_end": "Quiet until",
        }
        help_texts = {
            "products": "None ticked: every product.",
            "teams": "None ticked: every team.",
            "metrics": "Anomalies on these metrics only; none selected: every metric.",
            "quiet_start": "In the rule owner's timezone (Settings). Alerts wait until quiet hours end.",
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.is_lead = role_of(user) == Role.LEAD
        self.stored = secret_store.decrypt(self.instance.secrets_encrypted) if self.instance.pk else {}
        self.generated_secret: str | None = None
        fields: dict[str, Any] = self.fields  # typed as plain Field by the stubs
        fields["kinds"].choices = [
            (k, spec.label) for k, spec in kinds.KINDS.items() if self.is_lead or not spec.lead_only
        ]
        if not self.is_lead:
            fields["scope"].choices = [(RuleScope.PERSONAL, RuleScope.PERSONAL.label)]
            self.fields["scope"].help_text = "Team and channel rules are set up by the product-ops lead."
        fields["products"].queryset = Product.objects.order_by("name")
        fields["teams"].queryset = Team.objects.order_by("name")
        fields["team"].queryset = Team.objects.order_by("name")
        fields["metrics"].queryset = Metric.objects.select_related("product").order_by(
            "product__name", "name"
        )
        fields["threshold_metric"].queryset = fields["metrics"].queryset
        self.fields["metrics"].required = False
        fields["channel"].choices = Channel.choices
        fields["comparator"].choices = [("", "—"), *Comparator.choices]
        self.initial.setdefault("mode", "threshold" if self.instance.threshold_metric_id else "insights")
        for name, channel, key in SECRET_FIELDS:
            if self.instance.channel == channel and self.stored.get(key):
                self.fields[
                    name
                ].help_text = f"Stored ({secret_store.hint(self.stored[key])}); leave blank to keep it."
        if self.instance.channel == Channel.WEBHOOK and self.stored.get("signing_secret"):
            self.fields[
                "new_signing_secret"
            ].help_text = "The current secret was shown once, when it was made."

    def clean_email_to(self) -> str:
        text = self.cleaned_data.get("email_to", "")
        for address in parse_addresses(text):
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"{address!r} is not an e-mail address.") from None
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope, channel = data.get("scope"), data.get("channel")
        if scope != RuleScope.PERSONAL and not self.is_lead:
            raise ValidationError("Only the product-ops lead sets up team and channel rules.")
        if scope == RuleScope.TEAM and not data.get("team"):
            self.add_error("team", "Pick the team this rule is for.")
        if scope != RuleScope.TEAM:
            data["team"] = None
        if data.get("mode") == "threshold":
            for name in ("threshold_metric", "comparator", "threshold"):
                if data.get(name) in (None, ""):
                    self.add_error(name, "A threshold needs a metric, a direction and a value.")
        else:
            data["threshold_metric"], data["comparator"], data["threshold"] = None, "", None
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error("quiet_end", "Give both ends of the quiet hours, or neither.")
        if (
            channel == Channel.EMAIL
            and scope == RuleScope.CHANNEL
            and not parse_addresses(data.get("email_to", ""))
        ):
            self.add_error("email_to", "A shared e-mail rule needs at least one address.")
        if channel == Channel.EMAIL and scope == RuleScope.PERSONAL and not getattr(self.user, "email", ""):
            self.add_error(
                "channel", "Your account has no e-mail address; ask the product-ops lead to add one."
            )
        self._clean_secrets(data, channel)
        return data

    def _clean_secrets(self, data: dict[str, Any], channel: str | None) -> None:
        same_channel = self.instance.pk and self.instance.channel == channel
        kept = dict(self.stored) if same_channel else {}
        for name, field_channel, key in SECRET_FIELDS:
            value = (data.get(name) or "").strip()
            if field_channel != channel or not value:
                continue
            if name.endswith("url"):
                try:
                    _check_url(value, str(self.fields[name].label or name))
                except ValidationError as exc:
                    self.add_error(name, exc)
                    continue
            if name == "slack_bot_token" and not value.startswith("xoxb-"):
                self.add_error(name, "A bot token starts with xoxb- (OAuth & Permissions page of the app).")
                continue
            kept[key] = value
        if channel == Channel.SLACK:
            if not kept.get("bot_token") and not kept.get("webhook_url"):
                self.add_error(
                    "slack_bot_token", "Give a bot token (with a channel) or an incoming-webhook URL."
                )
            if kept.get("bot_token") and (data.get("slack_bot_token") or "").strip():
                kept.pop("webhook_url", None)  # the last one entered wins
            elif (data.get("slack_webhook_url") or "").strip():
                kept.pop("bot_token", None)
            if kept.get("bot_token") and not data.get("slack_channel"):
                self.add_error("slack_channel", "With a bot token, name the channel to post in.")
        if channel == Channel.TEAMS and not kept.get("webhook_url"):
            self.add_error("teams_webhook_url", "Paste the Teams incoming-webhook URL.")
        if channel == Channel.WEBHOOK:
            if not kept.get("url"):
                self.add_error("webhook_url", "Give the URL that receives the alerts.")
            if not kept.get("signing_secret") or data.get("new_signing_secret"):
                self.generated_secret = new_signing_secret()
                kept["signing_secret"] = self.generated_secret
        self.secrets_to_store = kept

    def save(self, commit: bool = True) -> AlertRule:
        rule: AlertRule = super().save(commit=False)
        if not rule.pk:
            rule.owner = self.user
        rule.kinds = list(self.cleaned_data.get("kinds") or [])
        rule.secrets_encrypted = secret_store.encrypt(self.secrets_to_store)
        if commit:
            rule.save()
            self.save_m2m()
        return rule
