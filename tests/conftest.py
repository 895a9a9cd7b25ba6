from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.dashboards import rollups
from productops.portfolio.models import Product, Team
from productops.signals.ingest import upsert
from productops.signals.models import Metric, MetricPoint, SupportTicket


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """The file or Redis cache outlives a test's database; start each test without stale pages."""
    cache.clear()


@pytest.fixture
def lead_user(db: Any) -> Any:
    return create_user("lead", "lead@example.com", "lead-pass-123!", Role.LEAD)


@pytest.fixture
def pm_user(db: Any) -> Any:
    return create_user("pm", "pm@example.com", "pm-pass-123!", Role.PM)


@pytest.fixture
def lead_client(lead_user: Any) -> Client:
    client = Client()
    client.force_login(lead_user)
    return client


@pytest.fixture
def pm_client(pm_user: Any) -> Client:
    client = Client()
    client.force_login(pm_user)
    return client


DAYS = 400


@pytest.fixture
def dashboard_data(db: Any) -> dict[str, Any]:
    product = Product.objects.create(name="Atlas", slug="atlas")
    team = Team.objects.create(name="Growth", slug="growth")
    team.products.add(product)
    metric = Metric.objects.create(
        source_key="demo",
        external_id="atlas-signups",
        product=product,
        name="Sign-ups",
        key="signups",
        dimensions=["platform"],
    )
    end = timezone.localdate()
    rng = np.random.default_rng(1)
    rows = []
    for i in range(DAYS):
        day = end - timedelta(days=DAYS - 1 - i)
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
        web, ios = int(rng.poisson(100)), int(rng.poisson(50))
        rows += [
            {
                "metric_id": metric.pk,
                "ts": ts,
                "dimension_key": "",
                "dimension_value": "",
                "value": float(web + ios),
            },
            {
                "metric_id": metric.pk,
                "ts": ts,
                "dimension_key": "platform",
                "dimension_value": "web",
                "value": float(web),
            },
            {
                "metric_id": metric.pk,
                "ts": ts,
                "dimension_key": "platform",
                "dimension_value": "ios",
                "value": float(ios),
            },
        ]
    upsert(MetricPoint, rows)
    tickets = [
        {
            "source_key": "demo",
            "external_id": f"t{i}",
            "product_id": product.pk,
            "subject": f"Export broken {i}",
            "opened_at": timezone.now() - timedelta(days=i % 20),
            "tags": ["billing", "export"] if i % 2 else ["login"],
            "status": "open",
        }
        for i in range(40)
    ]
    tickets.append(
        {
            "source_key": "demo",
            "external_id": "evil",
            "product_id": product.pk,
            "subject": '=HYPERLINK("http://x")',
            "opened_at": timezone.now(),
            "tags": [],
            "status": "open",
        }
    )
    upsert(SupportTicket, tickets)
    rollups.refresh_all()
    return {"product": product, "team": team, "metric": metric, "end": end}
