from __future__ import annotations

from typing import Any

import pytest

import tests.connectors.sources  # noqa: F401  (registers the test connectors)
from connectors.models import Connection


@pytest.fixture
def zendesk(db: Any) -> Connection:
    """A connection of the test Zendesk connector (tests/connectors/sources.py) with a stored token."""
    connection = Connection(
        name="Acme Zendesk",
        kind="zendesk_tickets_test",
        config={"subdomain": "acme", "email": "ops@acme.example"},
    )
    connection.set_secrets({"api_token": "zd-token-0123456789abcdef"})
    connection.save()
    return connection
