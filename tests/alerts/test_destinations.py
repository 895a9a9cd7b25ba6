"""Slack, Teams and the generic webhook at the HTTP boundary: documented request and response shapes,
errors a user can act on, no secret in any error, and one failing destination never blocking another."""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import Any

import pytest
import responses
import time_machine

from insights.models import Insight, Severity
from insights.services import upsert_insight
from productops.alerts import services
from productops.alerts.models import AlertDelivery, AlertRule, Channel, DeliveryStatus, RuleScope

from .conftest import slack_fixture
from .helpers import make_rule, webhook_rule

POST_MESSAGE = "https://slack.com/api/chat.postMessage"
SLACK_HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
TEAMS_HOOK = "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456"
_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vendors' names resolve to a public address at the DNS boundary (tests have no network)."""

    def dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) in {"slack.com", "hooks.slack.com", "contoso.webhook.office.com"}:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("52.0.0.10", int(port or 443)))]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)


def anomaly(
    people: dict[str, Any], key: str = "metric:1::2026-12-01", severity: int = Severity.HIGH
) -> Insight:
    row, _ = upsert_insight(
        "anomaly",
        key,
        title="Orders −40% vs expected",
        summary="Orders fell on checkout.",
        severity=severity,
        product=people["checkout"],
    )
    return row


def slack_rule(people: dict[str, Any], **secrets: str) -> AlertRule:
    return make_rule(
        people["lead"],
        Channel.SLACK,
        secrets or {"bot_token": "xoxb-111-222-secrettoken"},
        scope=RuleScope.CHANNEL,
        slack_channel="#alerts",
        name="Slack",
    )


@responses.activate
@pytest.mark.django_db
def test_slack_bot_token_posts_block_kit_with_chart_and_buttons(people: dict[str, Any]) -> None:
    responses.post(POST_MESSAGE, json=slack_fixture("chat.postMessage.ok"))
    rule = slack_rule(people)
    insight = anomaly(people)
    assert services.evaluate_rules() == [rule.pk]
    assert services.deliver_rule(rule.pk) == "sent"

    call = responses.calls[0].request
    assert call.headers["Authorization"] == "Bearer xoxb-111-222-secrettoken"
    body = json.loads(call.body)
    assert body["channel"] == "#alerts" and body["text"] == f"High: {insight.title}"
    types = [b["type"] for b in body["blocks"]]
    assert types[0] == "header" and "section" in types and "actions" in types
    buttons = next(b for b in body["blocks"] if b["type"] == "actions")["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open insight", "Acknowledge", "Mute"]
    assert buttons[0]["url"].endswith(f"/insights/{insight.pk}/")
    assert "/alerts/act/" in buttons[1]["url"] and "/alerts/act/" in buttons[2]["url"]
    assert AlertDelivery.objects.get().status == DeliveryStatus.SENT


@responses.activate
@pytest.mark.django_db
def test_slack_error_is_shown_on_the_rule_and_does_not_block_other_rules(
    people: dict[str, Any], receiver: Any
) -> None:
    responses.post(POST_MESSAGE, json=slack_fixture("chat.postMessage.channel_not_found"))
    responses.add_passthru("http://127.0.0.1")
    broken = slack_rule(people)
    working, receiver.secret = webhook_rule(people["lead"], receiver.url)
    anomaly(people)
    for rule_id in services.evaluate_rules():
        services.deliver_rule(rule_id)

    broken.refresh_from_db()
    assert "channel_not_found" in broken.last_error and "check the channel name" in broken.last_error
    assert AlertDelivery.objects.get(rule=broken).status == DeliveryStatus.GAVE_UP  # permanent: no retry
    assert AlertDelivery.objects.get(rule=working).status == DeliveryStatus.SENT
    assert len(receiver.verified()) == 1


@responses.activate
@pytest.mark.django_db
def test_slack_rate_limit_waits_for_retry_after(people: dict[str, Any]) -> None:
    responses.post(
        POST_MESSAGE,
        status=429,
        headers={"Retry-After": "300"},
        json=slack_fixture("chat.postMessage.ratelimited"),
    )
    rule = slack_rule(people)
    anomaly(people)
    now = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(now, tick=False):
        services.evaluate_rules()
        assert services.deliver_rule(rule.pk) == "failed"
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.due_at == now + dt.timedelta(seconds=300)  # Retry-After beats the 60 s backoff
    rule.refresh_from_db()
    assert "rate limited" in rule.last_error and "xoxb" not in rule.last_error


@responses.activate
@pytest.mark.django_db
def test_slack_incoming_webhook_and_its_errors_never_show_the_url(people: dict[str, Any]) -> None:
    responses.post(SLACK_HOOK, body="ok")
    rule = slack_rule(people, webhook_url=SLACK_HOOK)
    anomaly(people)
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "sent"
    assert "blocks" in json.loads(responses.calls[0].request.body)

    responses.replace(responses.POST, SLACK_HOOK, body="no_service", status=404)
    anomaly(people, key="metric:1::2026-12-02")
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "gave_up"
    rule.refresh_from_db()
    assert "HTTP 404: no_service" in rule.last_error
    assert "XXXXXXXX" not in rule.last_error and "/services/" not in rule.last_error


@responses.activate
@pytest.mark.django_db
def test_teams_gets_an_adaptive_card(people: dict[str, Any]) -> None:
    responses.post(TEAMS_HOOK, body="1")
    rule = make_rule(people["lead"], Channel.TEAMS, {"webhook_url": TEAMS_HOOK}, scope=RuleScope.CHANNEL)
    insight = anomaly(people)
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "sent"
    body = json.loads(responses.calls[0].request.body)
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == f"High: {insight.title}"
    urls = [a["url"] for block in card["body"] if block["type"] == "ActionSet" for a in block["actions"]]
    assert urls[0].endswith(f"/insights/{insight.pk}/") and all(u.startswith("http") for u in urls)

    responses.replace(
        responses.POST, TEAMS_HOOK, status=400, body="Bad payload received by generic incoming webhook."
    )
    anomaly(people, key="metric:1::2026-12-02")
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "gave_up"
    rule.refresh_from_db()
    assert "HTTP 400" in rule.last_error and "webhookb2" not in rule.last_error


@pytest.mark.django_db
def test_generic_webhook_is_signed_and_its_body_is_documented(people: dict[str, Any], receiver: Any) -> None:
    rule, receiver.secret = webhook_rule(people["lead"], receiver.url)
    insight = anomaly(people)
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "sent"
    [hit] = receiver.requests
    assert hit["verified"]
    assert hit["headers"]["webhook-id"].startswith("msg_")
    body = json.loads(hit["body"])
    assert body["type"] == "alert.insights" and body["rule"]["id"] == rule.pk
    [item] = body["insights"]
    assert item["id"] == insight.pk and item["kind"] == "anomaly" and item["severity"] == 3
    assert item["product"] == "checkout" and item["escalation"] is False
    assert set(item) >= {"url", "acknowledge_url", "mute_url", "chart_url", "payload", "severity_label"}

    # A receiver with another secret, or a changed body, fails verification: the check can fail.
    from .conftest import verify_standard_webhook

    assert not verify_standard_webhook(receiver.secret, hit["headers"], hit["body"] + b" ")
    other = "whsec_" + "A" * 44
    assert not verify_standard_webhook(other, hit["headers"], hit["body"])


@pytest.mark.django_db
def test_internal_addresses_are_refused_by_the_ssrf_guard(people: dict[str, Any]) -> None:
    rule, _ = webhook_rule(people["lead"], "http://169.254.169.254/latest/meta-data/")
    anomaly(people)
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "gave_up"
    rule.refresh_from_db()
    assert "cloud metadata service" in rule.last_error


@responses.activate
@pytest.mark.django_db
def test_a_large_batch_lists_the_most_severe_and_counts_the_rest(people: dict[str, Any]) -> None:
    responses.post(POST_MESSAGE, json=slack_fixture("chat.postMessage.ok"))
    rule = slack_rule(people)
    for i in range(14):
        anomaly(
            people,
            key=f"metric:1::2026-11-{i + 1:02d}",
            severity=Severity.CRITICAL if i == 13 else Severity.HIGH,
        )
    services.evaluate_rules()
    assert services.deliver_rule(rule.pk) == "sent"
    body = json.loads(responses.calls[0].request.body)
    assert body["text"] == "14 new insights for “Slack”"
    assert len(body["blocks"]) <= 50
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    assert len(sections) == 11 and sections[-1].startswith("…and <") and "4 more in the inbox" in sections[-1]
    assert "metric:1::2026-11-14" not in sections[0]  # titles, not keys
    assert AlertDelivery.objects.filter(rule=rule, status=DeliveryStatus.SENT).count() == 14
