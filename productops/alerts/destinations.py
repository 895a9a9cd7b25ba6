"""Where alerts go: one class per destination, one registry (e-mail, Slack, Microsoft Teams, webhook).

Each destination renders an `AlertMessage` and sends it, raising `DeliveryError(message, permanent=…)`:
a permanent error (a revoked token, a deleted channel, a refused address) is not retried; a transient
one (a timeout, a 5xx, a 429) is retried with backoff by the sender. Messages never contain a secret:
a Slack or Teams webhook URL is a credential, so errors name the host only.

Every outbound request goes through `post_json`: the SSRF guard resolves the host once, refuses
internal addresses and pins the connection to the checked address (connectors.http's adapter);
redirects are not followed (a webhook that redirects is misconfigured, and following it would carry
the body elsewhere).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.mime.image import MIMEImage
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    MarkdownTextObject,
    SectionBlock,
)

from connectors.base import ConnectorError
from connectors.http import USER_AGENT, PinnedAddressAdapter

from .message import AlertMessage
from .models import AlertRule, Channel

SLACK_POST_MESSAGE = "https://slack.com/api/chat.postMessage"
TIMEOUT = (5.0, 15.0)


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    text: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the destination"
    except ValueError:
        return "the destination"


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())[:200]


def post_json(
    url: str, body: bytes, headers: Mapping[str, str] | None = None, *, secrets: list[str] | None = None
) -> Reply:
    """POST `body` (JSON) to a user-given URL through the SSRF guard; raise DeliveryError on failure."""
    host = _host(url)
    secrets = [url, *(secrets or [])]
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would resolve the host itself
    adapter = PinnedAddressAdapter(guard=True, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        response = session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except ConnectorError as exc:  # the SSRF guard
        raise DeliveryError(exc.message, permanent=exc.permanent) from None
    except requests.Timeout:
        raise DeliveryError(f"{host} did not answer within {TIMEOUT[1]:.0f} seconds.") from None
    except requests.ConnectionError:
        raise DeliveryError(f"Could not connect to {host}.") from None
    except requests.RequestException as exc:
        raise DeliveryError(
            f"The request to {host} could not be sent ({type(exc).__name__}); check the URL.", permanent=True
        ) from None
    finally:
        session.close()
    reply = Reply(response.status_code, response.text[:4000], response.headers)
    if 200 <= reply.status < 300:
        return reply
    snippet = _scrub(reply.text, secrets)
    detail = f"{host} answered HTTP {reply.status}{': ' + snippet if snippet else ''}"
    if reply.status == 429:
        retry_after = _retry_after(reply.headers.get("Retry-After"))
        raise DeliveryError(f"{detail} (rate limited).", retry_after=retry_after)
    if reply.status >= 500 or reply.status == 408:
        raise DeliveryError(f"{detail}. This is usually temporary.")
    if 300 <= reply.status < 400:
        raise DeliveryError(
            f"{detail}: a redirect, which alerts do not follow. Check the URL.", permanent=True
        )
    raise DeliveryError(f"{detail}. Check the destination's settings.", permanent=True)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


# --- The registry --------------------------------------------------------------------------------


class Destination:
    """One place alerts go. `secret_fields` are stored encrypted and never shown again."""

    channel: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def send(self, rule: AlertRule, message: AlertMessage, secrets: dict[str, str]) -> str:
        """Send `message`; return a short note for the log (e.g. "to 3 recipients"). Raise DeliveryError."""
        raise NotImplementedError


REGISTRY: dict[str, Destination] = {}


def register(cls: type[Destination]) -> type[Destination]:
    REGISTRY[cls.channel] = cls()
    return cls


def destination_for(rule: AlertRule) -> Destination:
    try:
        return REGISTRY[rule.channel]
    except KeyError:
        raise DeliveryError(f"Unknown destination {rule.channel!r}.", permanent=True) from None


# --- E-mail --------------------------------------------------------------------------------------


def email_recipients(rule: AlertRule) -> list[str]:
    from productops.digests.models import TeamMembership

    from .models import RuleScope

    if rule.scope == RuleScope.PERSONAL:
        return [rule.owner.email] if rule.owner.email else []
    if rule.scope == RuleScope.TEAM and rule.team_id:
        return sorted(
            {
                m.user.email
                for m in TeamMembership.objects.filter(
                    team_id=rule.team_id, user__is_active=True
                ).select_related("user")
                if m.user.email
            }
        )
    return parse_addresses(rule.email_to)


def parse_addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace(",", "\n").splitlines() if a.strip()]


@register
class EmailDestination(Destination):
    channel = Channel.EMAIL

    def send(self, rule: AlertRule, message: AlertMessage, secrets: dict[str, str]) -> str:
        to = email_recipients(rule)
        if not to:
            raise DeliveryError(
                "No one to e-mail: add addresses to the rule, or e-mail addresses to the team's members.",
                permanent=True,
            )
        ctx = {"message": message, "rule": rule, "inline": True}
        email = EmailMultiAlternatives(
            subject=" ".join(render_to_string("emails/alert-subject.txt", ctx).split())[:250],
            body=render_to_string("emails/alert-body.txt", ctx),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=to[:1] if len(to) == 1 else [],
            bcc=to if len(to) > 1 else [],
            headers={"Auto-Submitted": "auto-generated", "X-Productops-Alert-Rule": str(rule.pk)},
        )
        email.attach_alternative(render_to_string("emails/alert-body.html", ctx), "text/html")
        email.mixed_subtype = "related"
        for chart in message.charts.values():
            image = MIMEImage(chart.png, "png")
            image.add_header("Content-ID", f"<{chart.cid}>")
            image.add_header("Content-Disposition", "inline", filename=chart.cid.split("@")[0] + ".png")
            email.attach(image)
        try:
            email.send()
        except (smtplib.SMTPException, OSError) as exc:
            permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
            raise DeliveryError(
                f"The mail server refused or dropped the alert: {exc}", permanent=permanent
            ) from None
        return f"to {len(to)} recipient(s)"


# --- Slack ---------------------------------------------------------------------------------------


def slack_blocks(message: AlertMessage) -> list[dict[str, Any]]:
    """Block Kit, built with slack-sdk's block models: a header, then per insight its summary, the
    chart as an image and buttons that open the insight, acknowledge it or mute it."""
    blocks: list[Any] = [HeaderBlock(text=message.title[:150])]
    for n, item in enumerate(message.items):
        if n:
            blocks.append(DividerBlock())
        lines = [f"*<{item.url}|{_mrkdwn(item.insight.title)}>*"]
        if item.insight.summary:
            lines.append(_mrkdwn(item.insight.summary)[:600])
        if item.why:
            lines.append(f"_{_mrkdwn(item.why)}_")
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:2900])))
        if item.chart_url:
            blocks.append(
                ImageBlock(image_url=item.chart_url, alt_text=f"Chart of {item.insight.title}"[:1900])
            )
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"{item.kind_label} · severity *{item.severity_label}*"
                        + (" · escalated" if item.escalation else "")
                    )
                ]
            )
        )
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(text="Open insight", url=item.url, action_id=f"open-{n}", style="primary"),
                    ButtonElement(text="Acknowledge", url=item.ack_url, action_id=f"ack-{n}"),
                    ButtonElement(text="Mute", url=item.mute_url, action_id=f"mute-{n}"),
                ]
            )
        )
    if message.more:
        more = f"…and <{message.more_url}|{message.more} more in the inbox>"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=more)))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(text=f"Alert rule <{message.rule_url}|{_mrkdwn(message.rule.name)}>")
            ]
        )
    )
    return [b.to_dict() for b in blocks[:50]]  # Slack's limit: 50 blocks a message


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@register
class SlackDestination(Destination):
    """A bot token with chat:write (posts to `slack_channel` via chat.postMessage), or an incoming-webhook
    URL (posts to the channel the webhook was made for)."""

    channel = Channel.SLACK
    secret_fields = ("bot_token", "webhook_url")

    def send(self, rule: AlertRule, message: AlertMessage, secrets: dict[str, str]) -> str:
        body: dict[str, Any] = {"text": message.title, "blocks": slack_blocks(message)}
        token = secrets.get("bot_token", "")
        if token:
            body.update(channel=rule.slack_channel, unfurl_links=False)
            reply = post_json(
                SLACK_POST_MESSAGE,
                json.dumps(body).encode(),
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"},
                secrets=[token],
            )
            data = reply.json()
            if not isinstance(data, dict) or not data.get("ok"):
                error = data.get("error", "unknown_error") if isinstance(data, dict) else "not JSON"
                raise _slack_error(str(error), rule.slack_channel)
            return f"to {rule.slack_channel} (ts {data.get('ts', '?')})"
        url = secrets.get("webhook_url", "")
        if not url:
            raise DeliveryError(
                "Slack needs a bot token or an incoming-webhook URL; edit the rule.", permanent=True
            )
        post_json(url, json.dumps(body).encode())
        return "to the incoming webhook"


# chat.postMessage answers HTTP 200 with {"ok": false, "error": ...}; these are worth retrying.
SLACK_TRANSIENT = {
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}
SLACK_HINTS = {
    "channel_not_found": "the channel does not exist or the app cannot see it; check the channel name",
    "not_in_channel": "invite the app to the channel (/invite @yourapp), or give it chat:write.public",
    "is_archived": "the channel is archived; pick another channel",
    "invalid_auth": "the bot token is not valid; paste a fresh xoxb- token",
    "not_authed": "no bot token was sent; paste the xoxb- token again",
    "token_revoked": "the bot token was revoked; reinstall the app and paste the new token",
    "account_inactive": "the token belongs to a deactivated app or workspace",
    "missing_scope": "the app lacks the chat:write scope; add it and reinstall",
    "msg_too_long": "the message is too long",
}


def _slack_error(error: str, channel: str) -> DeliveryError:
    hint = SLACK_HINTS.get(error, "see Slack's chat.postMessage errors")
    return DeliveryError(
        f"Slack refused the message to {channel or 'the channel'}: {error} ({hint}).",
        permanent=error not in SLACK_TRANSIENT,
    )


# --- Microsoft Teams -----------------------------------------------------------------------------


def adaptive_card(message: AlertMessage) -> dict[str, Any]:
    """An Adaptive Card 1.4 (what Teams incoming webhooks and Workflows render), wrapped as a message."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    actions: list[dict[str, Any]] = []
    for item in message.items:
        body.append(
            {
                "type": "TextBlock",
                "text": item.insight.title,
                "weight": "Bolder",
                "wrap": True,
                "spacing": "Large",
            }
        )
        facts = [
            {"title": "Kind", "value": item.kind_label},
            {"title": "Severity", "value": item.severity_label + (" (escalated)" if item.escalation else "")},
        ]
        if item.insight.product_id and item.insight.product:
            facts.append({"title": "Product", "value": item.insight.product.name})
        body.append({"type": "FactSet", "facts": facts})
        if item.insight.summary:
            body.append({"type": "TextBlock", "text": item.insight.summary[:600], "wrap": True})
        if item.chart_url:
            body.append(
                {
                    "type": "Image",
                    "url": item.chart_url,
                    "altText": f"Chart of {item.insight.title}",
                    "size": "Stretch",
                }
            )
        body.append(
            {
                "type": "ActionSet",
                "actions": [
                    {"type": "Action.OpenUrl", "title": "Open insight", "url": item.url},
                    {"type": "Action.OpenUrl", "title": "Acknowledge", "url": item.ack_url},
                    {"type": "Action.OpenUrl", "title": "Mute", "url": item.mute_url},
                ],
            }
        )
    if message.more:
        body.append({"type": "TextBlock", "text": f"…and {message.more} more in the inbox.", "wrap": True})
        actions.append({"type": "Action.OpenUrl", "title": "Open the inbox", "url": message.more_url})
    actions.append({"type": "Action.OpenUrl", "title": "Alert rule", "url": message.rule_url})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


@register
class TeamsDestination(Destination):
    channel = Channel.TEAMS
    secret_fields = ("webhook_url",)

    def send(self, rule: AlertRule, message: AlertMessage, secrets: dict[str, str]) -> str:
        url = secrets.get("webhook_url", "")
        if not url:
            raise DeliveryError("Teams needs an incoming-webhook URL; edit the rule.", permanent=True)
        reply = post_json(url, json.dumps(adaptive_card(message)).encode())
        # The classic connector webhook answers 200 "1"; an error can still come back as 200 with text.
        text = reply.text.strip()
        if reply.status == 200 and text and text != "1" and "error" in text.lower():
            raise DeliveryError(f"Teams refused the card: {_scrub(text, [url])}", permanent=True)
        return "to the Teams webhook"


# --- Generic webhook (Standard Webhooks signature) -----------------------------------------------


def webhook_body(message: AlertMessage, delivered_at: str) -> dict[str, Any]:
    """The documented JSON body (docs/alerts.md)."""
    return {
        "type": "alert.test" if message.test else "alert.insights",
        "timestamp": delivered_at,
        "rule": {"id": message.rule.pk, "name": message.rule.name, "url": message.rule_url},
        "insights": [
            {
                "id": item.insight.pk,
                "kind": item.insight.kind,
                "kind_label": item.kind_label,
                "title": item.insight.title,
                "summary": item.insight.summary,
                "severity": item.severity,
                "severity_label": item.severity_label,
                "escalation": item.escalation,
                "status": item.insight.status,
                "product": item.insight.product.slug
                if item.insight.product_id and item.insight.product
                else None,
                "detected_at": item.insight.detected_at.isoformat() if item.insight.detected_at else None,
                "url": item.url,
                "acknowledge_url": item.ack_url,
                "mute_url": item.mute_url,
                "chart_url": item.chart_url,
                "payload": item.insight.payload,
            }
            for item in message.items
        ],
        "more": message.more,
    }


def new_signing_secret() -> str:
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), as "v1,<sig>".
    The key is the base64 part of a "whsec_" secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@register
class WebhookDestination(Destination):
    channel = Channel.WEBHOOK
    secret_fields = ("url", "signing_secret")

    def send(self, rule: AlertRule, message: AlertMessage, secrets: dict[str, str]) -> str:
        url, secret = secrets.get("url", ""), secrets.get("signing_secret", "")
        if not url or not secret:
            raise DeliveryError(
                "The webhook needs a URL and a signing secret; edit the rule.", permanent=True
            )
        msg_id = message.message_id or f"msg_{uuid.uuid4().hex}"
        ts = int(time.time())
        body = json.dumps(webhook_body(message, timezone.now().isoformat()), separators=(",", ":")).encode()
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, msg_id, ts, body),
        }
        post_json(url, body, headers, secrets=[secret])
        return f"to {_host(url)} ({msg_id})"
