"""Helpers for the signal-tool connector tests: a connection, a real `manage.py sync_connection`, the
dashboards' filters, and vendor fixtures from tests/fixtures/<tool>/."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management import call_command

from connectors.models import Connection
from productops.portfolio.models import Product
from productops.ui.filters import Filters

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(tool: str, name: str) -> Any:
    return json.loads((FIXTURES / tool / name).read_text())


def text(tool: str, name: str) -> str:
    return (FIXTURES / tool / name).read_text()


def connection(kind: str, config: dict[str, Any], secrets: dict[str, str], **fields: Any) -> Connection:
    conn = Connection(name=f"{kind} test", kind=kind, config=config, schedule_kind="manual", **fields)
    conn.set_secrets(secrets)
    conn.save()
    return conn


def product(slug: str) -> Product:
    return Product.objects.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})[0]


def sync(conn: Connection) -> str:
    """`manage.py sync_connection <id>`, as an operator would run it; returns what it printed."""
    out = io.StringIO()
    call_command("sync_connection", str(conn.pk), stdout=out)
    conn.refresh_from_db()
    return out.getvalue()


def window(start: date, end: date, product: Product | None = None) -> Filters:
    """The dashboards' filter bar for a custom date range (as ?start=&end= would give)."""
    return Filters(product=product, team=None, start=start, end=end, preset="custom")


def query(call: Any) -> dict[str, str]:
    """The query parameters of a recorded `responses` call."""
    return dict(call.request.params)
