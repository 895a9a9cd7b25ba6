"""Delivery on the demo data: estimates on items, the planted slipping epic as an insight in the inbox,
the digest and the roadmap, and the pages within a bounded number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from insights.models import Insight, InsightKind
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.delivery import services
from productops.digests.build import build_digest
from productops.portfolio.models import PortfolioItem
from productops.signals.demo import seed
from tests.demo_data import wipe_demo

MAX_QUERIES = 40


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        wipe_demo()
        truth = seed(seed=7, only={"portfolio", "feedback", "goals"})
        services.recompute_delivery()
        yield truth
        wipe_demo()


@pytest.fixture
def pm_client(db: Any) -> Client:
    client = Client()
    client.force_login(create_user("delivery-pm", "delivery-pm@example.com", "delivery-pass-123!", Role.PM))
    return client


@pytest.mark.django_db
def test_demo_items_carry_estimates(demo: dict[str, Any]) -> None:
    stories = PortfolioItem.objects.filter(source_key="demo", kind="story")
    estimated = stories.filter(estimate_points__isnull=False).count()
    assert 0.6 < estimated / stories.count() < 0.9  # about a quarter left unestimated
    assert PortfolioItem.objects.filter(source_key="demo", kind="epic").exclude(estimate_size="").exists()


@pytest.mark.django_db
def test_the_slipping_epic_is_the_one_slip_insight(demo: dict[str, Any], pm_client: Client) -> None:
    planted = demo["delivery"]
    epic = PortfolioItem.objects.get(source_key="demo", external_id=planted["slipping_epic"])
    slips = Insight.objects.filter(kind=InsightKind.DELIVERY_SLIP)
    assert list(slips.values_list("key", flat=True)) == [f"item:{epic.pk}"]
    insight = slips.get()
    assert insight.payload["slip_days"] == planted["slip_days"] == 42
    assert insight.payload["moves"] == planted["moves"] == 2
    assert "slipped 42 days" in pm_client.get("/insights/?signal=delivery").content.decode()
    roadmap = pm_client.get("/delivery/roadmap/?slipped=1").content.decode()
    assert planted["slipping_title"] in roadmap and roadmap.count('class="slipped"') == 1
    # The digest covering the week of its last move (sent the Monday after), in the Delivery section,
    # linking to the item's page.
    user = create_user("digest-delivery", "digest-delivery@example.com", "digest-pass-123!", Role.PM)
    week = (insight.starts_at + timedelta(days=7)).isocalendar()
    digest = build_digest(user, f"{week.year}-W{week.week:02d}", with_charts=False)
    section = next(s for s in digest.sections if s.key == "delivery")
    assert section.title == "Delivery"
    assert [i.url.endswith(f"/delivery/items/{epic.pk}/") for i in section.items] == [True]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/delivery/health/",
        "/delivery/health/?team=growth&range=365d",
        "/delivery/roadmap/",
        "/delivery/opportunities/?product=ledger",
        "/delivery/opportunities/?product=pulse&sort=-customers",
    ],
)
def test_pages_render_with_bounded_queries(demo: dict[str, Any], pm_client: Client, url: str) -> None:
    with CaptureQueriesContext(connection) as ctx:
        response = pm_client.get(url)
    assert response.status_code == 200
    assert len(ctx.captured_queries) <= MAX_QUERIES, (url, len(ctx.captured_queries))
