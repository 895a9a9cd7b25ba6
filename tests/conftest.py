from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from productops.accounts.roles import Role
from productops.accounts.services import create_user


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
