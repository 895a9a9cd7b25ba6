"""Helpers for the tracker connector tests: teams/products, a connection, a real sync through the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.models import Connection
from connectors.sync import SyncResult, run_sync
from productops.portfolio.models import PortfolioItem, Product, Team

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def make_teams() -> dict[str, Any]:
    checkout = Product.objects.create(name="Checkout", slug="checkout")
    payments = Product.objects.create(name="Payments", slug="payments")
    alpha = Team.objects.create(name="Alpha", slug="alpha")
    beta = Team.objects.create(name="Beta", slug="beta")
    return {"checkout": checkout, "payments": payments, "alpha": alpha, "beta": beta}


def make_connection(kind: str, config: dict[str, Any], secrets: dict[str, str], name: str = "") -> Connection:
    connection = Connection(name=name or kind, kind=kind, config=config, schedule_kind="manual")
    connection.set_secrets(secrets)
    connection.save()
    return connection


def sync(connection: Connection, *, full: bool = False) -> SyncResult:
    result = run_sync(connection.pk, trigger="cli", full=full)
    connection.refresh_from_db()
    return result


def items(connection: Connection) -> dict[str, PortfolioItem]:
    return {i.external_id: i for i in PortfolioItem.objects.filter(source_key=connection.source_key)}
