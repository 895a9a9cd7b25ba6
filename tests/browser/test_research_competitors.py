"""The Research and Competitors pages in a real browser: charts draw, links open their rows, the
redundant-research comparison opens from the study, and the nav stays on one line at 1440 px."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.competitors.models import Competitor
from productops.competitors.services import recompute_competitors
from productops.portfolio.models import Product, Team
from productops.research.models import Highlight, Study
from productops.research.services import recompute_redundant_research
from productops.signals.models import Mention
from tests.browser.conftest import PageWatch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _data() -> dict[str, Any]:
    ledger = Product.objects.create(name="Ledger", slug="ledger")
    pulse = Product.objects.create(name="Pulse", slug="pulse")
    growth = Team.objects.create(name="Growth", slug="growth")
    growth.products.add(ledger)
    mobile = Team.objects.create(name="Mobile", slug="mobile")
    mobile.products.add(pulse)
    a = Study.objects.create(
        external_id="a",
        title="Onboarding interviews",
        question="Why do new workspace admins stall before inviting their team?",
        method="interviews",
        started_on=date(2026, 10, 12),
        product=ledger,
        team=growth,
        tags=["onboarding", "invites"],
    )
    b = Study.objects.create(
        external_id="b",
        title="Invite flow diary study",
        question="What stops new admins from inviting teammates during onboarding?",
        method="diary",
        started_on=date(2026, 10, 19),
        product=pulse,
        team=mobile,
        tags=["invites", "onboarding"],
    )
    Highlight.objects.create(
        study=a,
        external_id="h1",
        quote="I could not find where to invite my team",
        segment="SMB admin",
        tags=["invites"],
        created_at=datetime(2026, 10, 13, tzinfo=UTC),
    )
    Competitor.objects.create(name="Quillbooks", slug="quillbooks", aliases=["Quill Books"])
    Competitor.objects.create(name="Boardly", slug="boardly")
    monday = datetime(2026, 9, 7, tzinfo=UTC)
    n = 0
    for week in range(11):
        for name, count in (("Quillbooks", 2 if week < 10 else 12), ("Boardly", 2)):
            for i in range(count):
                n += 1
                Mention.objects.create(
                    external_id=f"m{n}",
                    product=ledger,
                    platform="reddit",
                    text=f"Thinking about {name} instead",
                    posted_at=monday + timedelta(weeks=week, hours=i),
                )
    recompute_redundant_research()
    recompute_competitors()
    return {"a": a, "b": b}


def test_research_and_competitor_pages(page: tuple[Page, PageWatch], live_server: Any) -> None:
    p, watch = page
    data = _data()
    create_user("pm-r", "pm-r@example.com", "pm-r-password-123", Role.PM)
    log_in(p, live_server.url, "pm-r", "pm-r-password-123")

    p.click("nav >> text=Research")
    p.wait_for_url("**/research/")
    assert "Onboarding interviews" in p.content() and "Redundant research" in p.content()
    p.click("text=Onboarding interviews")
    p.wait_for_url(f"**/research/studies/{data['a'].pk}/")
    assert "I could not find where to invite my team" in p.content()
    p.click("text=are researching the same question")
    p.wait_for_url("**/research/compare/**")
    assert "Invite flow diary study" in p.content() and "What stops new admins" in p.content()

    p.goto(f"{live_server.url}/competitors/?range=all")
    p.wait_for_selector(".chart[data-drawn='1'] svg.main-svg")
    traces = p.evaluate("document.querySelector('.chart').data.map(t => t.name)")
    assert sorted(traces) == ["Boardly", "Quillbooks"]
    assert "rose to 12" in p.content()  # the spike, from the insight
    p.click("td >> text=Quillbooks")
    p.wait_for_url("**/competitors/quillbooks/**")
    p.wait_for_selector(".chart[data-drawn='1'] svg.main-svg")
    p.click("text=32 mentions")
    p.wait_for_url("**/rows/competitor-mentions/**")
    assert "32 rows" in p.content()
    watch.assert_clean()


def test_nav_fits_one_line_at_1440(browser: Browser, live_server: Any, db: Any) -> None:
    create_user("lead-nav", "lead-nav@example.com", "lead-nav-password-123", Role.LEAD)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    log_in(p, live_server.url, "lead-nav", "lead-nav-password-123")
    labels = p.eval_on_selector_all(".nav-links a", "els => els.map(e => e.textContent.trim())")
    assert "Research" in labels and "Competitors" in labels and "Import" in labels
    tops = p.eval_on_selector_all(
        ".nav-links li", "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 1, f"the nav wraps at 1440 px: {dict(zip(labels, tops, strict=True))}"
    nav = p.eval_on_selector(".nav", "e => [e.scrollWidth, e.clientWidth]")
    assert nav[0] <= nav[1], f"the nav overflows: {nav}"
    context.close()
