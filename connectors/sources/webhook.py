"""Inbound webhook: a push-only source. Records arrive at /hooks/<token>/ (see connectors.webhooks).

Requests are signed as Standard Webhooks describes (https://www.standardwebhooks.com/, the spec at
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, Page, register
from connectors.family_schemas import FAMILY_CHOICES, SCHEMAS
from connectors.webhooks import SECRET_FIELD, SECRET_PREFIX, TOKEN_FIELD


class WebhookConfigForm(forms.Form):
    family = forms.ChoiceField(
        choices=FAMILY_CHOICES,
        help_text="What the pushed records are: each request's body is checked against this family's schema.",
    )


@register
class WebhookConnector(Connector):
    kind = "webhook"
    label = "Inbound webhook"
    family = "generic"  # chosen per connection in config["family"]
    description = "Push records to a signed URL (Standard Webhooks). Nothing is polled."
    docs_url = "https://www.standardwebhooks.com/"
    push_only = True  # never stale for want of a schedule: data comes when the sender sends it
    config_form = WebhookConfigForm
    # The signing secret is generated (connectors.webhooks.ensure_endpoint) and shown once, never typed.
    secret_fields = ()

    def check(self) -> CheckResult:
        family = self.config.get("family")
        if family not in SCHEMAS:
            return CheckResult(False, f"Choose what the records are (one of {', '.join(SCHEMAS)}).")
        if not self.config.get(TOKEN_FIELD):
            return CheckResult(False, "This connection has no webhook URL yet: save it to generate one.")
        secret = self.secrets.get(SECRET_FIELD, "")
        if not secret.startswith(SECRET_PREFIX):
            return CheckResult(False, "This connection has no signing secret yet: save it to generate one.")
        return CheckResult(True, f"Ready to receive {family} records at /hooks/{self.config[TOKEN_FIELD]}/.")

    def streams(self) -> list[str]:
        return []

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        return iter(())  # push only: the webhook view writes as requests arrive
