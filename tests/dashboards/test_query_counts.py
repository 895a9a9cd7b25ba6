"""Every page's SQL query count is bounded on a dataset of the demo's size (and does not grow with it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from insights.models import Insight
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.demo import seed, world
from productops.signals.models import (
    Experiment,
    KbArticle,
    KbSearch,
    Mention,
    Metric,
    NpsResponse,
    SupportTicket,
)

# The most queries any page may run. Each page's own count is printed; the bound is a ceiling that a
# per-row query (N+1) on the demo data would blow through many times over.
MAX_QUERIES = 40


def _wipe() -> None:
    Insight.objects.all().delete()
    PortfolioItem.objects.filter(source_key="demo").delete()
    for model in (Metric, NpsResponse, SupportTicket, Experiment, Mention, KbArticle, KbSearch):
        model.objects.filter(source_key="demo").delete()
    Team.objects.filter(slug__in=world.TEAMS).delete()
    Product.objects.filter(slug__in=[p.slug for p in world.PRODUCTS]).delete()


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        _wipe()
        truth = seed(seed=7)
        call_command("recompute_insights")
        yield truth
        _wipe()


def _pages() -> list[str]:
    metric = next((m for m in Metric.objects.order_by("pk") if m.dimensions), None)
    product = Product.objects.order_by("pk").first()
    anomaly = Insight.objects.filter(kind="anomaly").order_by("-severity").first()
    assert metric and product and anomaly
    return [
        "/",
        f"/products/{product.slug}/",
        f"/explore/?metric={metric.pk}&breakdown=platform&compare=previous&range=365d",
        f"/rows/metric-points/?metric={metric.pk}&range=365d",
        "/rows/tickets/?range=365d",
        "/rows/nps/?range=365d",
        "/rows/items/",
        "/insights/",
        f"/insights/{anomaly.pk}/",
        "/portfolio/",
        "/feedback/",
        "/nps/",
        "/support/",
        "/experiments/",
        "/connectors/",
    ]


@pytest.mark.django_db
def test_every_page_runs_a_bounded_number_of_queries(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("counter", "counter@example.com", "counter-pass-123", Role.LEAD))
    counts = {}
    for path in _pages():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, path
        counts[path] = len(ctx.captured_queries)
    print("queries per page:", counts)
    too_many = {path: n for path, n in counts.items() if n > MAX_QUERIES}
    assert too_many == {}, too_many
