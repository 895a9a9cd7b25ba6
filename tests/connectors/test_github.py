"""GitHub Issues through the real sync loop, replayed from REST fixtures (Link pagination, sub-issues)."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.sources.github import GitHubConnector
from productops.portfolio.models import PortfolioItem

from .portfolio_sync import fixture, items, make_connection, make_teams, sync

API = "https://api.github.com/repos/acme/app"
ISSUES = f"{API}/issues"
AUTH = {"Authorization": "Bearer ghp-test-0123456789", "X-GitHub-Api-Version": "2022-11-28"}


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["api.github.com"] = ["140.82.112.6"]
    return fake_dns


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(GitHubConnector, "sleep", staticmethod(slept.append))
    return slept


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


def github(gone_check_hours: int = 10_000) -> Any:
    config = {
        "api_url": "https://api.github.com",
        "scopes": {"acme/app": {"team": "beta", "product": "payments"}},
        "overrides": [{"label": "checkout", "team": "alpha", "product": "checkout"}],
        "gone_check_hours": gone_check_hours,
    }
    return make_connection("github", config, {"token": "ghp-test-0123456789"}, name="Acme GitHub")


def add_listing() -> None:
    responses.add(
        responses.GET,
        ISSUES,
        json=fixture("github/repo_issues_page1.json"),
        headers={
            "Link": f'<{ISSUES}?state=all&sort=updated&direction=asc&per_page=100&page=2>; rel="next", '
            f'<{ISSUES}?state=all&sort=updated&direction=asc&per_page=100&page=2>; rel="last"'
        },
        match=[
            matchers.query_param_matcher(
                {"state": "all", "sort": "updated", "direction": "asc", "per_page": "100"}
            ),
            matchers.header_matcher(AUTH),
        ],
    )
    responses.add(
        responses.GET,
        ISSUES,
        json=fixture("github/repo_issues_page2.json"),
        match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )
    responses.add(
        responses.GET,
        f"{ISSUES}/10/sub_issues",
        json=fixture("github/sub_issues_10.json"),
        match=[matchers.query_param_matcher({"per_page": "100"})],
    )


def add_ids(name: str = "github/repo_issues_ids.json") -> None:
    responses.add(
        responses.GET,
        ISSUES,
        json=fixture(name),
        match=[matchers.query_param_matcher({"state": "all", "per_page": "100"})],
    )


@responses.activate
def test_full_sync_drops_pull_requests_and_maps_hierarchy_labels_milestones(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = github()
    add_listing()
    add_ids()
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {"5001", "5003", "5004", "5005"}  # 5002 is a pull request
    epic, story, done, checkout = got["5001"], got["5003"], got["5004"], got["5005"]
    assert epic.kind == "epic" and story.kind == "story"
    assert story.parent_id == epic.pk and done.parent_id == epic.pk
    assert epic.target_date.isoformat() == "2026-12-20"  # milestone due_on
    assert story.status_category == "in_progress" and epic.status_category == "todo"
    assert done.status_category == "done" and done.status == "completed" and done.done_at is not None
    assert story.assignee == "mona, hubot" and story.labels == ["in progress", "backend"]
    assert epic.team == teams["beta"] and epic.product == teams["payments"]
    assert checkout.team == teams["alpha"] and checkout.product == teams["checkout"]  # label override
    assert epic.url == "https://github.com/acme/app/issues/10" and epic.tracker == "github"
    assert connection.cursors["items"]["repos"]["acme/app"] == {"since": "2026-11-21T09:00:00Z", "next": None}


@responses.activate
def test_incremental_sync_sends_since_and_moves_the_issue_to_another_team_and_parent(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = github()
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"

    responses.reset()
    responses.add(
        responses.GET,
        ISSUES,
        json=fixture("github/repo_issues_incremental.json"),
        match=[
            matchers.query_param_matcher(
                {
                    "state": "all",
                    "sort": "updated",
                    "direction": "asc",
                    "per_page": "100",
                    "since": "2026-11-21T09:00:00Z",
                }
            )
        ],
    )
    responses.add(responses.GET, f"{ISSUES}/14/sub_issues", json=fixture("github/sub_issues_14.json"))
    assert sync(connection).outcome == "succeeded"
    assert "since=2026-11-21T09%3A00%3A00Z" in responses.calls[0].request.url

    got = items(connection)
    assert len(got) == 4 and PortfolioItem.objects.filter(external_id="5003").count() == 1
    moved = got["5003"]
    assert moved.team == teams["alpha"] and moved.product == teams["checkout"]
    assert moved.parent_id == got["5005"].pk and got["5005"].kind == "epic"


@responses.activate
def test_transferred_issue_is_marked_gone(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = github(gone_check_hours=0)
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert got["5004"].is_gone and not got["5003"].is_gone

    # Transferred back: the next full listing restores it.
    responses.reset()
    responses.add(
        responses.GET,
        ISSUES,
        json=[],
        match=[matchers.query_param_matcher({"since": "2026-11-21T09:00:00Z"}, strict_match=False)],
    )
    add_ids("github/repo_issues_page2.json")
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert not got["5004"].is_gone and got["5001"].is_gone


@responses.activate
def test_secondary_rate_limit_waits_for_retry_after(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = github()
    responses.add(
        responses.GET,
        ISSUES,
        status=403,
        json=fixture("github/error_403_secondary_rate_limit.json"),
        headers={"retry-after": "60", "X-RateLimit-Remaining": "4990"},
    )
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert sleeps == [60.0]
    assert PortfolioItem.objects.count() == 4


@responses.activate
def test_primary_rate_limit_waits_until_the_reset_time(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = github()
    reset = int(time.time()) + 30
    responses.add(
        responses.GET,
        ISSUES,
        status=403,
        json=fixture("github/error_403_primary_rate_limit.json"),
        headers={
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Resource": "core",
        },
    )
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    after = time.time()
    assert len(sleeps) == 1 and reset - after - 1 <= sleeps[0] <= 31


@responses.activate
def test_bad_credentials_are_permanent(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = github()
    responses.add(responses.GET, ISSUES, status=401, json=fixture("github/error_401.json"))
    result = sync(connection)
    assert result.outcome == "paused" and "Bad credentials" in connection.paused_reason
    assert "ghp-test" not in connection.paused_reason and sleeps == []


@responses.activate
def test_check_reads_the_first_repository(teams: dict[str, Any]) -> None:
    connection = github()
    responses.add(responses.GET, API, json=fixture("github/repo.json"), match=[matchers.header_matcher(AUTH)])
    result = connection.build_connector().check()
    assert result.ok and "acme/app" in result.message and len(responses.calls) == 1


@responses.activate
def test_a_sub_issue_removed_from_its_parent_loses_the_parent(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = github()
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert items(connection)["5003"].parent_id == items(connection)["5001"].pk

    responses.reset()
    epic = dict(fixture("github/repo_issues_page1.json")[0], updated_at="2026-11-23T08:00:00Z")
    epic["sub_issues_summary"] = {"total": 1, "completed": 1, "percent_completed": 100}
    responses.add(responses.GET, ISSUES, json=[epic])
    # Only #13 is still a sub-issue of #10; #12 was removed from it.
    responses.add(responses.GET, f"{ISSUES}/10/sub_issues", json=fixture("github/sub_issues_10.json")[1:])
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert got["5003"].parent_id is None and got["5004"].parent_id == got["5001"].pk


@responses.activate
def test_backfill_cursor_applies_since_to_every_repository(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = github()
    cursor = connection.build_connector().cursor_for_date("items", date(2026, 11, 1))
    responses.add(
        responses.GET,
        ISSUES,
        json=[],
        match=[matchers.query_param_matcher({"since": "2026-11-01"}, strict_match=False)],
    )
    pages = list(connection.build_connector().read("items", cursor))
    assert pages[-1].done and len(responses.calls) == 1
