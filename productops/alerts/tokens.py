"""Signed links in an alert: acknowledge or mute the insight, and the chart image chat apps fetch.

Like the digest's unsubscribe link, the signed token is the only credential: whoever received the alert
may triage that one insight. A token names the insight, the rule and the action, and expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

ACTION_SALT = "productops.alerts.action"
CHART_SALT = "productops.alerts.chart"
ACTIONS = ("acknowledge", "mute")


@dataclass(frozen=True)
class ActionToken:
    insight_id: int
    rule_id: int
    action: str


def max_age() -> int:
    return int(getattr(settings, "ALERT_LINK_MAX_AGE", 60 * 60 * 24 * 30))


def make_action_token(insight_id: int, rule_id: int, action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown alert action {action!r}")
    return signing.dumps({"i": insight_id, "r": rule_id, "a": action}, salt=ACTION_SALT, compress=False)


def read_action_token(token: str) -> ActionToken:
    """Raises signing.BadSignature (SignatureExpired is a subclass) for a forged, cut or old token."""
    data = signing.loads(token, salt=ACTION_SALT, max_age=max_age())
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("i"), int)
        or not isinstance(data.get("r"), int)
        or data.get("a") not in ACTIONS
    ):
        raise signing.BadSignature("not an alert action token")
    return ActionToken(int(data["i"]), int(data["r"]), str(data["a"]))


def make_chart_token(insight_id: int) -> str:
    return signing.dumps({"c": insight_id}, salt=CHART_SALT, compress=False)


def read_chart_token(token: str) -> int:
    data = signing.loads(token, salt=CHART_SALT, max_age=max_age())
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise signing.BadSignature("not a chart token")
    return int(data["c"])
