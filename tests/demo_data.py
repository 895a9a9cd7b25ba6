"""Removing the demo dataset from the test database, for test modules that seed it once per module.

Module fixtures seed outside the per-test transaction (django_db_blocker.unblock), so they clean up
after themselves, and before, in case an interrupted run left rows behind.
"""

from __future__ import annotations

from insights.feedback.models import Theme
from insights.models import Insight
from productops.competitors.models import Competitor
from productops.goals.models import Objective
from productops.portfolio.models import PortfolioItem, Product, Team
from productops.research.models import Study
from productops.signals.demo import world
from productops.signals.models import (
    ErrorIssue,
    Experiment,
    FeatureFlag,
    KbArticle,
    KbSearch,
    Mention,
    Metric,
    NpsResponse,
    OpsIncident,
    Release,
    SupportTicket,
)

DEMO_TABLES = (
    Metric,
    NpsResponse,
    SupportTicket,
    Experiment,
    FeatureFlag,
    Mention,
    KbArticle,
    KbSearch,
    Release,
    ErrorIssue,
    OpsIncident,
)


def wipe_demo() -> None:
    """Delete the demo rows, the insights and themes computed from them, and the demo teams and products."""
    Insight.objects.all().delete()
    Objective.objects.filter(source_key="demo").delete()  # key results, check-ins and links go with them
    Theme.objects.all().delete()
    Study.objects.filter(source_key="demo").delete()  # notes and highlights go with them
    Competitor.objects.all().delete()  # mentions and battle-card notes go with them
    PortfolioItem.objects.filter(source_key="demo").delete()
    for model in DEMO_TABLES:
        model.objects.filter(source_key="demo").delete()
    Team.objects.filter(slug__in=world.TEAMS).delete()
    Product.objects.filter(slug__in=[p.slug for p in world.PRODUCTS]).delete()
