"""GitLab (self-managed URL) through the real sync loop: group epics, group and project issues."""

from __future__ import annotations

import time
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.sources.gitlab import GitLabConnector
from productops.portfolio.models import PortfolioItem

from .portfolio_sync import FIXTURES, fixture, items, make_connection, make_teams, sync

API = "https://gitlab.example.com/api/v4"
EPICS = f"{API}/groups/acme/epics"
GROUP_ISSUES = f"{API}/groups/acme/issues"
PROJECT_ISSUES = f"{API}/projects/acme%2Fapp/issues"
TOKEN = {"PRIVATE-TOKEN": "glpat-test-0123456789"}
ORDER = {"order_by": "updated_at", "sort": "asc", "per_page": "100"}
ISSUE_QUERY = {**ORDER, "scope": "all", "state": "all"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["gitlab.example.com"] = ["35.231.145.151"]
    return fake_dns


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(GitLabConnector, "sleep", staticmethod(slept.append))
    return slept


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


def gitlab(gone_check_hours: int = 10_000) -> Any:
    config = {
        "base_url": "https://gitlab.example.com",
        "scopes": {
            "group:acme": {"team": "alpha", "product": "checkout"},
            "project:acme/app": {"team": "beta", "product": "payments"},
        },
        "kind_map": {"label:initiative": "initiative"},
        "gone_check_hours": gone_check_hours,
    }
    return make_connection("gitlab", config, {"token": "glpat-test-0123456789"}, name="GitLab")


def add_listing() -> None:
    responses.add(
        responses.GET,
        EPICS,
        json=fixture("gitlab/group_epics.json"),
        match=[matchers.query_param_matcher(ORDER), matchers.header_matcher(TOKEN)],
    )
    nxt = f"{GROUP_ISSUES}?id=acme&order_by=updated_at&page=2&per_page=100&scope=all&sort=asc&state=all"
    responses.add(
        responses.GET,
        GROUP_ISSUES,
        json=fixture("gitlab/group_issues_page1.json"),
        headers={"Link": f'<{nxt}>; rel="next", <{nxt}>; rel="last"', "X-Page": "1", "X-Next-Page": "2"},
        match=[matchers.query_param_matcher(ISSUE_QUERY)],
    )
    responses.add(
        responses.GET,
        GROUP_ISSUES,
        json=fixture("gitlab/group_issues_page2.json"),
        match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )
    responses.add(
        responses.GET,
        PROJECT_ISSUES,
        json=fixture("gitlab/project_issues.json"),
        match=[matchers.query_param_matcher(ISSUE_QUERY)],
    )


def add_ids() -> None:
    responses.add(
        responses.GET,
        EPICS,
        json=fixture("gitlab/group_epics.json"),
        match=[matchers.query_param_matcher({"per_page": "100"})],
    )
    ids = {"scope": "all", "state": "all", "per_page": "100"}
    responses.add(
        responses.GET,
        GROUP_ISSUES,
        json=fixture("gitlab/group_issues_ids.json"),
        match=[matchers.query_param_matcher(ids)],
    )
    responses.add(
        responses.GET,
        PROJECT_ISSUES,
        json=fixture("gitlab/project_issues.json"),
        match=[matchers.query_param_matcher(ids)],
    )


@responses.activate
def test_full_sync_reads_epics_then_issues_and_places_them(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = gitlab(gone_check_hours=0)
    add_listing()
    add_ids()
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {"epic:30", "epic:31", "issue:501", "issue:502", "issue:503"}
    relaunch, offline = got["epic:30"], got["epic:31"]
    assert relaunch.kind == "initiative" and offline.kind == "epic" and offline.parent_id == relaunch.pk
    sync_queue, banner, cache = got["issue:501"], got["issue:502"], got["issue:503"]
    assert sync_queue.parent_id == offline.pk and banner.parent_id == offline.pk
    assert (
        sync_queue.team == teams["beta"] and banner.team == teams["alpha"]
    )  # project scope beats group scope
    assert sync_queue.status_category == "in_progress" and cache.status_category == "done"
    assert sync_queue.target_date.isoformat() == "2027-01-15"  # milestone due date
    assert banner.target_date.isoformat() == "2026-12-24"  # the issue's own due date
    assert offline.target_date.isoformat() == "2027-02-01" and sync_queue.assignee == "sam"
    assert (
        sync_queue.url == "https://gitlab.example.com/acme/app/-/issues/1" and sync_queue.tracker == "gitlab"
    )
    # Estimates from GitLab's issue weight; the creation date for the backlog's age.
    assert sync_queue.estimate_points == 3.0 and banner.estimate_points is None
    assert sync_queue.created_at_source is not None and sync_queue.created_at_source.isoformat().startswith(
        "2026-10-10"
    )
    # 503 was not in the id listing: deleted at the source.
    assert cache.is_gone and not banner.is_gone


@responses.activate
def test_incremental_sync_sends_updated_after_moves_and_marks_transferred(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = gitlab()
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    responses.reset()
    responses.add(
        responses.GET,
        EPICS,
        json=[],
        match=[matchers.query_param_matcher({**ORDER, "updated_after": "2026-11-20T09:00:00Z"})],
    )
    responses.add(
        responses.GET,
        GROUP_ISSUES,
        json=fixture("gitlab/group_issues_incremental.json"),
        match=[matchers.query_param_matcher({**ISSUE_QUERY, "updated_after": "2026-11-21T08:00:00Z"})],
    )
    responses.add(
        responses.GET,
        PROJECT_ISSUES,
        json=[],
        match=[matchers.query_param_matcher({**ISSUE_QUERY, "updated_after": "2026-11-20T10:00:00Z"})],
    )
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert len(got) == 5 and PortfolioItem.objects.filter(external_id="issue:502").count() == 1
    assert got["issue:502"].parent_id == got["epic:30"].pk  # moved to another epic
    assert got["issue:503"].is_gone  # moved to another project (moved_to_id)


@responses.activate
def test_rate_limit_429_waits_for_retry_after(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = gitlab()
    responses.add(
        responses.GET,
        EPICS,
        status=429,
        body=(FIXTURES / "gitlab/error_429.txt").read_text(),
        content_type="text/plain",
        headers={
            "Retry-After": "2",
            "RateLimit-Limit": "600",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(time.time()) + 2),
            "RateLimit-Name": "throttle_authenticated_api",
        },
    )
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert sleeps == [2.0] and PortfolioItem.objects.count() == 5


@responses.activate
def test_epics_without_premium_are_skipped_and_issues_still_sync(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = gitlab()
    responses.add(responses.GET, EPICS, status=403, json=fixture("gitlab/error_403.json"))
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert "epic:30" not in got and got["issue:501"].parent_id is None and len(got) == 3


@responses.activate
def test_bad_token_is_permanent(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = gitlab()
    responses.add(responses.GET, EPICS, status=401, json=fixture("gitlab/error_401.json"))
    assert sync(connection).outcome == "paused"
    assert "401 Unauthorized" in connection.paused_reason and "glpat" not in connection.paused_reason


@responses.activate
def test_check_calls_user(teams: dict[str, Any]) -> None:
    connection = gitlab()
    responses.add(
        responses.GET, f"{API}/user", json=fixture("gitlab/user.json"), match=[matchers.header_matcher(TOKEN)]
    )
    result = connection.build_connector().check()
    assert result.ok and "pm-bot" in result.message
