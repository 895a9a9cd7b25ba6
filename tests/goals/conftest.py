from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.digests.models import TeamMembership
from productops.goals.models import KeyResult, Objective
from productops.portfolio.models import Product, Team
from productops.signals.ingest import upsert
from productops.signals.models import Metric, MetricPoint

HISTORY = 90


def points(metric: Metric, values: np.ndarray, end: Any) -> None:
    rows = []
    for i, value in enumerate(values):
        day = end - timedelta(days=len(values) - 1 - i)
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows.append(
            {
                "metric_id": metric.pk,
                "ts": ts,
                "dimension_key": "",
                "dimension_value": "",
                "value": float(value),
            }
        )
    upsert(MetricPoint, rows)


@pytest.fixture
def goals_world(db: Any) -> dict[str, Any]:
    """Two products with one team each; a PM in each team; a metric on Atlas that declines
    (planted) and one that grows steadily (clean); an objective over this quarter-ish period."""
    atlas = Product.objects.create(name="Atlas", slug="atlas")
    beta = Product.objects.create(name="Beta", slug="beta")
    atlas_team = Team.objects.create(name="Atlas team", slug="atlas-team")
    atlas_team.products.add(atlas)
    beta_team = Team.objects.create(name="Beta team", slug="beta-team")
    beta_team.products.add(beta)
    pm_atlas = create_user("pm-atlas", "pm-atlas@example.com", "pm-pass-123!", Role.PM)
    pm_beta = create_user("pm-beta", "pm-beta@example.com", "pm-pass-123!", Role.PM)
    TeamMembership.objects.create(user=pm_atlas, team=atlas_team)
    TeamMembership.objects.create(user=pm_beta, team=beta_team)
    today = timezone.localdate()
    rng = np.random.default_rng(11)
    n = HISTORY
    declining = Metric.objects.create(
        source_key="manual",
        external_id="atlas-active",
        product=atlas,
        name="Active users",
        key="active_users",
    )
    decline = np.full(n, 1000.0)
    decline[40:] -= 5.0 * np.arange(1, n - 39)
    points(declining, decline + rng.normal(0, 10, n), today)
    growing = Metric.objects.create(
        source_key="manual", external_id="atlas-signups", product=atlas, name="Sign-ups", key="signups"
    )
    points(growing, 500 + 1.0 * np.arange(n) + rng.normal(0, 8, n), today)
    objective = Objective.objects.create(
        title="Grow Atlas engagement",
        level="product",
        product=atlas,
        period_start=today - timedelta(days=45),
        period_end=today + timedelta(days=30),
    )
    at_risk = KeyResult.objects.create(
        objective=objective,
        title="Active users up to 1100",
        start_value=1000,
        target_value=1100,
        unit="users",
        metric=declining,
        aggregation="last",
    )
    on_track = KeyResult.objects.create(
        objective=objective,
        title="Daily sign-ups reach 600",
        start_value=500,
        target_value=600,
        metric=growing,
        aggregation="last",
    )
    return {
        "atlas": atlas,
        "beta": beta,
        "atlas_team": atlas_team,
        "beta_team": beta_team,
        "pm_atlas": pm_atlas,
        "pm_beta": pm_beta,
        "declining": declining,
        "growing": growing,
        "objective": objective,
        "at_risk": at_risk,
        "on_track": on_track,
    }


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c
