"""A PM saves the page they are on as a view, then opens it from the nav's Views menu."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.savedviews.models import SavedView
from tests.browser.conftest import PageWatch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pm_saves_a_view_and_opens_it_from_the_nav(
    page: tuple[Page, PageWatch], live_server: Any, dashboard_data: dict[str, Any]
) -> None:
    p, watch = page
    create_user("pm3", "pm3@example.com", "pm3-password-123", Role.PM)
    log_in(p, live_server.url, "pm3", "pm3-password-123")

    metric = dashboard_data["metric"]
    p.goto(f"{live_server.url}/explore/?metric={metric.pk}&granularity=week&range=180d&product=atlas")
    p.click("details.save-view summary")
    p.fill("#sv-name", "Atlas weekly sign-ups")
    p.click(".save-view-form button[type=submit]")
    # Saving opens the view: the same page with the same filters.
    p.wait_for_url("**/explore/?**")
    assert "Saved the view" in p.content()
    view = SavedView.objects.get()
    assert view.name == "Atlas weekly sign-ups"

    p.goto(f"{live_server.url}/")
    p.click(".nav-views summary")
    p.click(".nav-views-menu >> text=Atlas weekly sign-ups")
    p.wait_for_url("**/explore/?**")
    query = parse_qs(urlparse(p.url).query)
    assert query["metric"] == [str(metric.pk)] and query["granularity"] == ["week"]
    assert query["range"] == ["180d"] and query["product"] == ["atlas"]
    p.wait_for_selector("#explorer-chart[data-drawn='1'] svg.main-svg")
    assert p.locator("#granularity").input_value() == "week"

    # The views page lists it with its digest subscription.
    p.goto(f"{live_server.url}/views/")
    p.click("#my-views button:has-text('Subscribe')")
    assert "will be in your weekly digest" in p.content()
    assert view.subscribers.filter(username="pm3").exists()
    watch.assert_clean()
