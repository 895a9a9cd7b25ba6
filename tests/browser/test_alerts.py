"""The alert pages in a real browser: the lead finds Alerts in the nav, creates a signed-webhook rule for
a channel, copies the signing secret shown once, and a PM sees the rule without being able to edit it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.alerts.models import AlertRule
from productops.alerts.services import rule_secrets
from productops.portfolio.models import Product
from tests.browser.conftest import PageWatch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lead_creates_a_webhook_rule_and_a_pm_sees_it_read_only(
    page: tuple[Page, PageWatch], browser: Any, live_server: Any
) -> None:
    p, watch = page
    Product.objects.create(name="Checkout", slug="checkout")
    create_user("lead3", "lead3@example.com", "lead3-password-123", Role.LEAD)
    create_user("pm3", "pm3@example.com", "pm3-password-123", Role.PM)
    log_in(p, live_server.url, "lead3", "lead3-password-123")

    p.click("nav >> text=Alerts")
    p.wait_for_url("**/alerts/")
    assert "No alert rules yet" in p.content()
    p.click("text=New alert rule >> nth=0")
    p.wait_for_url("**/alerts/new/")
    p.fill("#id_name", "Checkout to on-call")
    p.select_option("#id_scope", "channel")
    p.check("input[name=kinds][value=anomaly]")
    p.check("input[name=kinds][value=incident]")
    p.get_by_label("Checkout").check()
    p.select_option("#id_min_severity", "3")
    p.select_option("#id_channel", "webhook")
    p.fill("#id_webhook_url", "http://oncall.example.com/hook")
    p.click("form.alert-form button[type=submit]")
    p.wait_for_selector("text=must start with https://")

    p.fill("#id_webhook_url", "https://oncall.example.com/hook")
    p.select_option("#id_quiet_start", "22")
    p.select_option("#id_quiet_end", "7")
    p.click("form.alert-form button[type=submit]")
    p.wait_for_selector("#signing-secret")
    secret = p.inner_text("#signing-secret").strip()
    rule = AlertRule.objects.get()
    assert secret.startswith("whsec_") and rule_secrets(rule)["signing_secret"] == secret
    assert sorted(rule.kinds) == ["anomaly", "incident"] and (rule.quiet_start, rule.quiet_end) == (22, 7)

    p.click("text=I have copied it")
    p.wait_for_url(f"**/alerts/{rule.pk}/")
    assert "Checkout to on-call" in p.content() and secret not in p.content()
    assert p.is_visible("text=Send a test alert")
    p.goto(f"{live_server.url}/alerts/{rule.pk}/edit/")
    assert secret not in p.content() and "oncall.example.com" not in p.content()
    watch.assert_clean()

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    pm = context.new_page()
    log_in(pm, live_server.url, "pm3", "pm3-password-123")
    pm.goto(f"{live_server.url}/alerts/")
    pm.click("text=Checkout to on-call")
    pm.wait_for_url(f"**/alerts/{rule.pk}/")
    assert not pm.is_visible("text=Send a test alert") and not pm.is_visible("a:has-text('Edit')")
    context.close()
