"""Linear's GraphQL API through the real sync loop: projects, issues, relations, errors in the body."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses

from connectors.sources.linear import LinearConnector
from productops.portfolio.models import Dependency, PortfolioItem

from .portfolio_sync import fixture, items, make_connection, make_teams, sync

ENDPOINT = "https://api.linear.app/graphql"
KEY = "lin_api_test0123456789"
I1, I2, I3, I10 = (f"issue:0f1c3a52-1b1e-4b2a-9a3c-0000000000{n}" for n in ("01", "02", "03", "10"))
P1 = "project:7ab3c1d4-2e5f-4a6b-8c9d-0e1f2a3b4c5d"


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["api.linear.app"] = ["104.18.29.241"]
    return fake_dns


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(LinearConnector, "sleep", staticmethod(slept.append))
    return slept


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


def linear(gone_check_hours: int = 10_000) -> Any:
    config = {
        "scopes": {
            "ENG": {"team": "alpha", "product": "checkout"},
            "PAY": {"team": "beta", "product": "payments"},
        },
        "kind_map": {"label:epic": "epic"},
        "gone_check_hours": gone_check_hours,
    }
    return make_connection("linear", config, {"api_key": KEY}, name="Linear")


def gql(root: str, **variables: Any) -> Any:
    """Match a GraphQL POST by the query's root field and a subset of its variables (and the API key)."""

    def match(request: Any) -> tuple[bool, str]:
        if request.headers.get("Authorization") != KEY:
            return False, "no API key"
        body = json.loads(request.body)
        head = body["query"].split("{", 2)[1]
        if head.split("(")[0].strip() != root:
            return False, f"not a {root} query"
        got = body.get("variables") or {}
        for k, v in variables.items():
            if got.get(k) != v:
                return False, f"variable {k}={got.get(k)!r}, wanted {v!r}"
        return True, ""

    return match


def add_listing() -> None:
    team_filter = {"key": {"in": ["ENG", "PAY"]}}
    responses.add(
        responses.POST,
        ENDPOINT,
        json=fixture("linear/projects.json"),
        match=[gql("projects", first=50, after=None, filter={"accessibleTeams": team_filter})],
    )
    responses.add(
        responses.POST,
        ENDPOINT,
        json=fixture("linear/issues_page1.json"),
        match=[gql("issues", first=50, after=None, filter={"team": team_filter})],
    )
    responses.add(
        responses.POST,
        ENDPOINT,
        json=fixture("linear/issues_page2.json"),
        match=[gql("issues", after="YmVmb3JlOjIwMjYtMTEtMjFUMDk6MDA6MDAuMDAwWg==")],
    )


def add_ids() -> None:
    responses.add(
        responses.POST, ENDPOINT, json=fixture("linear/project_ids.json"), match=[gql("projects", first=250)]
    )
    responses.add(
        responses.POST, ENDPOINT, json=fixture("linear/issue_ids.json"), match=[gql("issues", first=250)]
    )


@responses.activate
def test_full_sync_maps_projects_issues_states_and_relations(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = linear()
    add_listing()
    add_ids()
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {P1, I1, I2, I3, I10}
    project, auth, login, push, wallet = got[P1], got[I1], got[I2], got[I3], got[I10]
    assert project.kind == "epic" and project.target_date.isoformat() == "2027-03-01"
    assert auth.kind == "epic" and auth.parent_id == project.pk  # label "epic" via the kind map
    assert login.parent_id == auth.pk  # parent issue, read on the same page after its child
    assert (
        push.parent_id == project.pk
        and push.status_category == "in_progress"
        and push.status == "In Progress"
    )
    assert login.status_category == "done" and login.done_at is not None and wallet.status_category == "todo"
    # Linear's own estimate, start and creation times.
    assert push.estimate_points == 3.0 and wallet.estimate_points is None
    assert push.started_at is not None and push.started_at.isoformat().startswith("2026-11-18T09:00")
    assert push.created_at_source is not None and push.created_at_source.isoformat().startswith("2026-11-01")
    assert (
        push.team == teams["alpha"] and wallet.team == teams["beta"] and wallet.product == teams["payments"]
    )
    assert (
        push.target_date.isoformat() == "2026-12-10"
        and push.labels == ["mobile"]
        and push.tracker == "linear"
    )
    deps = {(d.from_item.external_id, d.kind, d.to_item.external_id) for d in Dependency.objects.all()}
    assert deps == {(I3, "blocks", I10), (I10, "relates", I2)}
    assert connection.cursors["items"] == {"since": "2026-11-21T10:00:00Z"}


@responses.activate
def test_incremental_sync_filters_updated_at_and_moves_the_issue(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = linear()
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    responses.reset()
    team_filter = {"key": {"in": ["ENG", "PAY"]}}
    responses.add(
        responses.POST,
        ENDPOINT,
        json=fixture("linear/projects_incremental.json"),
        match=[
            gql(
                "projects",
                filter={"accessibleTeams": team_filter, "updatedAt": {"gte": "2026-11-19T08:00:00Z"}},
            )
        ],
    )
    responses.add(
        responses.POST,
        ENDPOINT,
        json=fixture("linear/issues_incremental.json"),
        match=[gql("issues", filter={"team": team_filter, "updatedAt": {"gte": "2026-11-21T10:00:00Z"}})],
    )
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert len(got) == 5 and PortfolioItem.objects.filter(external_id=I2).count() == 1
    moved = got[I2]
    assert moved.team == teams["beta"] and moved.parent_id == got[I10].pk
    # The "related" relation was removed in Linear; the blocking one is still reported by PAY-1.
    deps = {(d.from_item.external_id, d.kind, d.to_item.external_id) for d in Dependency.objects.all()}
    assert deps == {(I3, "blocks", I10)}


@responses.activate
def test_deleted_issue_is_marked_gone(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = linear(gone_check_hours=0)
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert got[I3].is_gone and not got[I10].is_gone and not got[P1].is_gone


@responses.activate
def test_ratelimited_error_waits_for_the_reset_header(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = linear()
    reset_ms = int((time.time() + 20) * 1000)
    responses.add(
        responses.POST,
        ENDPOINT,
        status=400,
        json=fixture("linear/error_ratelimited.json"),
        headers={
            "X-RateLimit-Requests-Limit": "5000",
            "X-RateLimit-Requests-Remaining": "0",
            "X-RateLimit-Requests-Reset": str(reset_ms),
        },
    )
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert len(sleeps) == 1 and 15 <= sleeps[0] <= 21
    assert PortfolioItem.objects.count() == 5


@responses.activate
def test_authentication_error_is_permanent(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = linear()
    responses.add(responses.POST, ENDPOINT, status=400, json=fixture("linear/error_authentication.json"))
    assert sync(connection).outcome == "paused"
    assert "Linear refused the API key" in connection.paused_reason and KEY not in connection.paused_reason
    assert sleeps == []


@responses.activate
def test_authentication_error_in_a_200_body_is_permanent_too(teams: dict[str, Any]) -> None:
    connection = linear()
    responses.add(responses.POST, ENDPOINT, json=fixture("linear/error_authentication.json"))
    result = connection.build_connector().check()
    assert not result.ok and "Linear refused the API key" in result.message


@responses.activate
def test_check_asks_for_the_viewer(teams: dict[str, Any]) -> None:
    connection = linear()
    responses.add(responses.POST, ENDPOINT, json=fixture("linear/viewer.json"), match=[gql("viewer")])
    result = connection.build_connector().check()
    assert result.ok and "Priya PM" in result.message
