from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tests.connectors.sources  # noqa: F401  (registers the test connectors)
from connectors.models import Connection

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zendesk"
EXPORT_URL = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"
ME_URL = "https://acme.zendesk.com/api/v2/users/me.json"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture
def zendesk(db: Any) -> Connection:
    connection = Connection(
        name="Acme Zendesk",
        kind="zendesk_tickets_test",
        config={"subdomain": "acme", "email": "ops@acme.example"},
    )
    connection.set_secrets({"api_token": "zd-token-0123456789abcdef"})
    connection.save()
    return connection
