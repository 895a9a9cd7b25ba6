"""A PM in the browser: Opportunities (edits a factor, opens the customers behind a count), Delivery
health (the weekly chart draws) and the roadmap (the slipped epic is highlighted)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from insights.feedback.models import EvidenceLink, LinkStatus, Theme, ThemeMember
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.delivery.models import TargetDateChange
from productops.digests.models import TeamMembership
from productops.portfolio.models import PortfolioItem
from productops.signals.models import NpsResponse
from tests.browser.conftest import PageWatch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _world(data: dict[str, Any]) -> PortfolioItem:
    product, team = data["product"], data["team"]
    now = timezone.now()
    epic = PortfolioItem.objects.create(
        source_key="manual", external_id="E1", title="Faster exports", kind="epic", team=team,
        product=product, status_category="in_progress", target_date=(now + timedelta(days=40)).date(),
    )  # fmt: skip
    TargetDateChange.objects.create(item=epic, to_date=(now + timedelta(days=12)).date(), changed_at=now)
    TargetDateChange.objects.create(
        item=epic, from_date=(now + timedelta(days=12)).date(), to_date=epic.target_date, changed_at=now
    )
    for n in range(12):
        done = now - timedelta(days=3 + 5 * n)
        PortfolioItem.objects.create(
            source_key="manual", external_id=f"S{n}", title=f"Story {n}", kind="story", team=team,
            product=product, parent=epic, status_category="done", started_at=done - timedelta(days=2 + n % 4),
            done_at=done, estimate_points=float(1 + n % 3),
        )  # fmt: skip
    theme = Theme.objects.create(product=product, label="export slow", recent_volume=5, previous_volume=2)
    EvidenceLink.objects.create(theme=theme, item=epic, score=0.4, status=LinkStatus.CONFIRMED)
    for n in range(5):
        response = NpsResponse.objects.create(
            source_key="manual", external_id=f"n{n}", product=product, score=4, comment="export slow",
            segment={"plan": "pro"}, respondent_hash=f"r{n % 3}", submitted_at=now - timedelta(days=n),
        )  # fmt: skip
        ThemeMember.objects.create(
            theme=theme, source="nps", object_id=response.pk, product=product, ts=response.submitted_at,
            sentiment=-0.4, quote="export slow", segment=response.segment,
        )  # fmt: skip
    return epic


def test_pm_ranks_opportunities_checks_delivery_and_the_roadmap(
    page: tuple[Page, PageWatch], live_server: Any, dashboard_data: dict[str, Any]
) -> None:
    p, watch = page
    epic = _world(dashboard_data)
    pm = create_user("pm-delivery", "pm-delivery@example.com", "pm-delivery-123", Role.PM)
    TeamMembership.objects.create(user=pm, team=dashboard_data["team"])
    log_in(p, live_server.url, "pm-delivery", "pm-delivery-123")

    p.click("nav >> summary:has-text('Strategy')")
    p.click("nav >> text=Opportunities")
    p.wait_for_url("**/delivery/opportunities/")
    row = p.locator(f"#opp-item-{epic.pk}")
    assert row.locator("td[data-factor=customers] a").inner_text() == "3"  # respondents r0, r1, r2
    row.locator("summary", has_text="Edit factors").click()
    row.locator("input[name=impact]").fill("0.5")
    row.locator("button", has_text="Save").click()
    p.wait_for_selector("text=Saved your factors")
    assert "edited" in p.locator(f"#opp-item-{epic.pk} td[data-factor=impact]").inner_text()
    p.locator(f"#opp-item-{epic.pk} td[data-factor=customers] a").click()
    p.wait_for_url("**/delivery/opportunities/evidence/**")
    assert p.locator("table.evidence-rows tbody tr").count() == 3

    p.click("nav >> summary:has-text('Strategy')")
    p.click("nav >> text=Delivery")
    p.wait_for_url("**/delivery/health/")
    p.wait_for_selector(".chart[data-drawn='1'] svg.main-svg")
    assert "+28 days" in p.content()
    p.click("text=Roadmap by quarter")
    p.wait_for_url("**/delivery/roadmap/**")
    assert p.locator("tr.slipped").count() == 1
    assert "slipped +28 days" in p.locator("tr.slipped").inner_text()
    watch.assert_clean()
