from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.digests.models import TeamMembership
from productops.portfolio.models import Product, Team


@pytest.fixture
def research_world(db: Any) -> dict[str, Any]:
    """Two products, a team on each, a PM in each team."""
    ledger = Product.objects.create(name="Ledger", slug="ledger")
    pulse = Product.objects.create(name="Pulse", slug="pulse")
    growth = Team.objects.create(name="Growth", slug="growth")
    growth.products.add(ledger)
    mobile = Team.objects.create(name="Mobile", slug="mobile")
    mobile.products.add(pulse)
    pm_ledger = create_user("pm-ledger", "pm-ledger@example.com", "pm-pass-123!", Role.PM)
    pm_pulse = create_user("pm-pulse", "pm-pulse@example.com", "pm-pass-123!", Role.PM)
    TeamMembership.objects.create(user=pm_ledger, team=growth)
    TeamMembership.objects.create(user=pm_pulse, team=mobile)
    clients = {}
    for name, user in (("ledger", pm_ledger), ("pulse", pm_pulse)):
        c = Client()
        c.force_login(user)
        clients[name] = c
    return {
        "ledger": ledger,
        "pulse": pulse,
        "growth": growth,
        "mobile": mobile,
        "pm_ledger": pm_ledger,
        "pm_pulse": pm_pulse,
        "client_ledger": clients["ledger"],
        "client_pulse": clients["pulse"],
    }
