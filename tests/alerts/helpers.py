"""Rule factories and waiting, shared by the alert tests."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import time
from collections.abc import Callable
from typing import Any

from productops.alerts import services
from productops.alerts.destinations import new_signing_secret
from productops.alerts.models import AlertRule, Cadence, Channel, RuleScope

RULES_MADE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_rule(
    owner: Any, channel: str = Channel.EMAIL, secrets: dict[str, str] | None = None, **fields: Any
) -> AlertRule:
    products = fields.pop("products", [])
    fields.setdefault("name", f"{channel} rule")
    fields.setdefault("kinds", ["anomaly"])
    fields.setdefault("min_severity", 2)
    fields.setdefault("cadence", Cadence.IMMEDIATE)
    fields.setdefault("scope", RuleScope.PERSONAL)
    # Made before the (time-travelled) insights of the tests; a rule only alerts on what came after it.
    fields.setdefault("created_at", RULES_MADE)
    rule = AlertRule(owner=owner, channel=channel, **fields)
    services.set_secrets(rule, secrets or {})
    rule.save()
    rule.products.set(products)
    return rule


def webhook_rule(owner: Any, url: str, **fields: Any) -> tuple[AlertRule, str]:
    secret = new_signing_secret()
    fields.setdefault("scope", RuleScope.CHANNEL)
    return make_rule(owner, Channel.WEBHOOK, {"url": url, "signing_secret": secret}, **fields), secret


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def parse_mail(raw: bytes) -> Any:
    return email.message_from_bytes(raw, policy=email.policy.default)


def text_of(msg: Any) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def json_lines(path: Any) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
