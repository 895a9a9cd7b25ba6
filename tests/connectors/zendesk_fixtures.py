"""Zendesk-shaped responses (tests/fixtures/zendesk/) for the core framework tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zendesk"
EXPORT_URL = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"
ME_URL = "https://acme.zendesk.com/api/v2/users/me.json"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()
