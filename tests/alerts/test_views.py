"""The alert pages: who may create, see and edit which rules; secrets write-only; the test button."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from productops.alerts.models import AlertRule, Channel, RuleScope
from productops.alerts.services import rule_secrets

from .helpers import make_rule


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


BASE = {
    "name": "Checkout anomalies",
    "scope": "personal",
    "enabled": "on",
    "mode": "insights",
    "kinds": ["anomaly", "incident"],
    "min_severity": "3",
    "channel": "email",
    "cadence": "immediate",
}


@pytest.mark.django_db
def test_a_pm_creates_a_personal_rule_but_not_a_team_or_channel_rule(people: dict[str, Any]) -> None:
    pm = client_for(people["pm"])
    page = pm.get("/alerts/new/")
    assert page.status_code == 200 and "A shared channel" not in page.content.decode()
    assert "Stale connector" not in page.content.decode()  # lead-only kinds are not offered
    created = pm.post("/alerts/new/", {**BASE, "products": [people["checkout"].pk]})
    rule = AlertRule.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/alerts/{rule.pk}/"
    assert rule.owner == people["pm"] and rule.kinds == ["anomaly", "incident"] and rule.min_severity == 3
    refused = pm.post("/alerts/new/", {**BASE, "scope": "channel", "email_to": "team@example.com"})
    assert refused.status_code == 200 and AlertRule.objects.count() == 1


@pytest.mark.django_db
def test_the_lead_creates_a_team_rule_and_pms_see_but_cannot_edit_it(people: dict[str, Any]) -> None:
    lead = client_for(people["lead"])
    response = lead.post("/alerts/new/", {**BASE, "scope": "team", "team": people["payments"].pk})
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert rule.scope == RuleScope.TEAM and rule.team == people["payments"]
    pm = client_for(people["pm"])
    assert "Checkout anomalies" in pm.get("/alerts/").content.decode()
    detail = pm.get(f"/alerts/{rule.pk}/").content.decode()
    assert "Checkout anomalies" in detail and f"/alerts/{rule.pk}/edit/" not in detail
    assert pm.get(f"/alerts/{rule.pk}/edit/").status_code == 404
    assert pm.post(f"/alerts/{rule.pk}/delete/").status_code == 404
    assert pm.post(f"/alerts/{rule.pk}/test/").status_code == 404


@pytest.mark.django_db
def test_personal_rules_are_private(people: dict[str, Any]) -> None:
    rule = make_rule(people["pm"], name="Mine")
    other = client_for(people["other"])
    assert "Mine" not in other.get("/alerts/").content.decode()
    assert other.get(f"/alerts/{rule.pk}/").status_code == 404
    assert other.get(f"/alerts/{rule.pk}/edit/").status_code == 404
    lead = client_for(people["lead"])
    assert lead.get(f"/alerts/{rule.pk}/edit/").status_code == 404  # even the lead: it is the PM's own


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_log_in(people: dict[str, Any]) -> None:
    for path in ("/alerts/", "/alerts/new/"):
        response = Client().get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_secrets_are_encrypted_write_only_and_the_signing_secret_shown_once(people: dict[str, Any]) -> None:
    lead = client_for(people["lead"])
    token = "xoxb-1234-5678-verysecretvalue"
    slack = {**BASE, "scope": "channel", "channel": "slack", "slack_channel": "#alerts"}
    lead.post("/alerts/new/", {**slack, "slack_bot_token": token})
    rule = AlertRule.objects.get()
    assert token not in rule.secrets_encrypted and rule_secrets(rule) == {"bot_token": token}
    edit = lead.get(f"/alerts/{rule.pk}/edit/").content.decode()
    assert token not in edit and "ends in …alue" in edit
    # A blank field keeps the stored token.
    assert lead.post(f"/alerts/{rule.pk}/edit/", {**slack, "slack_channel": "#alerts-2"}).status_code == 302
    rule.refresh_from_db()
    assert rule_secrets(rule) == {"bot_token": token} and rule.slack_channel == "#alerts-2"

    hook = {
        **BASE,
        "name": "Hook",
        "scope": "channel",
        "channel": "webhook",
        "webhook_url": "https://example.com/h",
    }
    shown = lead.post("/alerts/new/", hook).content.decode()
    webhook = AlertRule.objects.get(name="Hook")
    secret = rule_secrets(webhook)["signing_secret"]
    assert secret.startswith("whsec_") and secret in shown
    assert secret not in lead.get(f"/alerts/{webhook.pk}/").content.decode()
    assert secret not in lead.get(f"/alerts/{webhook.pk}/edit/").content.decode()


@pytest.mark.django_db
def test_the_form_refuses_internal_urls_and_bad_tokens_with_what_to_do(people: dict[str, Any]) -> None:
    lead = client_for(people["lead"])
    page = lead.post(
        "/alerts/new/",
        {**BASE, "scope": "channel", "channel": "webhook", "webhook_url": "https://127.0.0.1:6379/"},
    ).content.decode()
    assert "loopback" in page
    page = lead.post(
        "/alerts/new/",
        {**BASE, "scope": "channel", "channel": "webhook", "webhook_url": "http://example.com/h"},
    ).content.decode()
    assert "must start with https://" in page
    page = lead.post(
        "/alerts/new/", {**BASE, "scope": "channel", "channel": "slack", "slack_bot_token": "xoxp-user-token"}
    ).content.decode()
    assert "starts with xoxb-" in page
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
def test_send_a_test_alert_reports_the_destinations_error(people: dict[str, Any], receiver: Any) -> None:
    rule = make_rule(
        people["lead"],
        Channel.WEBHOOK,
        {"url": receiver.url, "signing_secret": "whsec_" + "QUJD" * 11},
        scope="channel",
    )
    receiver.status = 410
    lead = client_for(people["lead"])
    page = lead.post(f"/alerts/{rule.pk}/test/", follow=True).content.decode()
    assert "The test alert failed" in page and "HTTP 410" in page
    receiver.status = 200
    page = lead.post(f"/alerts/{rule.pk}/test/", follow=True).content.decode()
    assert "Test alert sent" in page
    body = json.loads(receiver.requests[-1]["body"])
    assert body["type"] == "alert.test"


@pytest.mark.django_db
def test_rotate_keys_re_encrypts_alert_secrets(people: dict[str, Any]) -> None:
    import io

    from cryptography.fernet import Fernet
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    rule = make_rule(
        people["lead"], Channel.TEAMS, {"webhook_url": "https://example.com/hook"}, scope="channel"
    )
    new_key = Fernet.generate_key().decode()
    with override_settings(FERNET_KEYS=[new_key, *settings.FERNET_KEYS]):
        out = io.StringIO()
        call_command("rotate_keys", stdout=out)
        assert "1 alert rule(s)" in out.getvalue()
    rule.refresh_from_db()
    with override_settings(FERNET_KEYS=[new_key]):
        assert rule_secrets(rule) == {"webhook_url": "https://example.com/hook"}
