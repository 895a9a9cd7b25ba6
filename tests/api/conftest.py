from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from productops.api.tokens import create_token

# Lines the schemathesis test leaves for the end of the run, so CI's log shows its count of examples.
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("schemathesis")
        for line in SUMMARY:
            terminalreporter.write_line(line)


class ApiClient:
    """A test client that sends a bearer token (or none)."""

    def __init__(self, raw: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"} if raw else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, body, content_type="application/json", headers=self.headers)


@pytest.fixture
def pm_read(pm_user: Any) -> ApiClient:
    return ApiClient(create_token(pm_user, "pm read", "read")[1])


@pytest.fixture
def pm_write(pm_user: Any) -> ApiClient:
    return ApiClient(create_token(pm_user, "pm write", "write")[1])


@pytest.fixture
def lead_read(lead_user: Any) -> ApiClient:
    return ApiClient(create_token(lead_user, "lead read", "read")[1])


@pytest.fixture
def lead_write(lead_user: Any) -> ApiClient:
    return ApiClient(create_token(lead_user, "lead write", "write")[1])


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://productops.dev/problems/")
    assert body["title"] and body["detail"]
    return body
