"""The Jira Cloud connection form in a real browser: a lead fills it, trips a validation error, fixes it
without retyping the token, saves, and edits it again (issue 18)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from connectors.models import Connection
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.portfolio.models import Product, Team
from tests.browser.conftest import PageWatch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKEN = "ATATT3xFfGF0-browser-token-5678"


def test_lead_fills_the_jira_cloud_form_through_an_error_and_edits_it(
    page: tuple[Page, PageWatch], live_server: Any
) -> None:
    p, watch = page
    Team.objects.create(name="Payments Team", slug="payments")
    Product.objects.create(name="Checkout", slug="checkout")
    create_user("lead2", "lead2@example.com", "lead2-password-123", Role.LEAD)
    log_in(p, live_server.url, "lead2", "lead2-password-123")

    p.goto(f"{live_server.url}/connectors/add/jira_cloud/")
    # Scopes start as {} (not null) and say they are optional.
    assert p.input_value("textarea[name=scopes]").strip() == "{}"
    assert "Scopes (optional)" in p.content()

    p.fill("#id_name", "Acme Jira")
    p.fill("#id_site_url", "https://acme.atlassian.net")
    p.fill("#id_email", "lead@acme.example")
    p.fill("#id_api_token", TOKEN)
    p.fill("textarea[name=scopes]", '{"ALPHA": {"team": "nobody"}}')
    p.click("button[value=save]")
    p.wait_for_selector("text=no team with slug 'nobody'")
    # The token field is blank (never echoed) but kept: the page says so and the HTML holds no clear value.
    assert p.input_value("#id_api_token") == ""
    assert "Kept from what you typed" in p.content() and TOKEN not in p.content()

    # Fix the scope with the team's name, leave the token blank, save.
    p.fill("textarea[name=scopes]", '{"ALPHA": {"team": "Payments Team", "product": "checkout"}}')
    p.click("button[value=save]")
    p.wait_for_url("**/connectors/*/")
    connection = Connection.objects.get(name="Acme Jira")
    assert connection.get_secrets()["api_token"] == TOKEN

    # Editing shows slugs, not the internal ids the connector stores.
    p.goto(f"{live_server.url}/connectors/{connection.pk}/edit/")
    shown = p.input_value("textarea[name=scopes]")
    assert '"team": "payments"' in shown and '"product": "checkout"' in shown
    assert "team_id" not in shown and "product_id" not in shown
    # An empty mapping is accepted: every project the account can see.
    p.fill("textarea[name=scopes]", "{}")
    p.click("button[value=save]")
    p.wait_for_url(f"**/connectors/{connection.pk}/")
    connection.refresh_from_db()
    assert connection.config["scopes"] == {} and connection.get_secrets()["api_token"] == TOKEN
    watch.assert_clean()
