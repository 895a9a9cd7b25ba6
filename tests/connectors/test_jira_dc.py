"""Jira Data Center on a private network: /rest/api/2/search with startAt, a PAT, the SSRF allowlist."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from connectors.sources.jira_dc import JiraDataCenterConnector
from productops.portfolio.models import Dependency, PortfolioItem

from .portfolio_sync import fixture, items, make_connection, make_teams, sync

BASE = "https://jira.internal.example"
SEARCH = f"{BASE}/rest/api/2/search"
MYSELF = f"{BASE}/rest/api/2/myself"
PAT = {"Authorization": "Bearer NjM4OTU0NDIxMjM0OmZha2UtcGF0"}
JQL = 'project in ("INFRA") ORDER BY updated ASC'


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["jira.internal.example"] = ["10.20.30.40"]
    return fake_dns


@pytest.fixture
def allowed(settings: Any) -> None:
    settings.CONNECTOR_ALLOWED_NETWORKS = ["10.0.0.0/8"]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(JiraDataCenterConnector, "sleep", staticmethod(slept.append))
    return slept


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


def jira_dc(gone_check_hours: int = 10_000) -> Any:
    config = {
        "base_url": BASE,
        "scopes": {"INFRA": {"team": "beta", "product": "payments"}},
        "gone_check_hours": gone_check_hours,
    }
    return make_connection(
        "jira_dc", config, {"personal_access_token": "NjM4OTU0NDIxMjM0OmZha2UtcGF0"}, name="Jira DC"
    )


def add_listing() -> None:
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_dc/search_page1.json"),
        match=[
            matchers.query_param_matcher(
                {"jql": JQL, "startAt": "0", "maxResults": "100"}, strict_match=False
            ),
            matchers.header_matcher(PAT),
        ],
    )
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_dc/search_page2.json"),
        match=[matchers.query_param_matcher({"jql": JQL, "startAt": "2"}, strict_match=False)],
    )


def add_ids() -> None:
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_dc/search_ids.json"),
        match=[
            matchers.query_param_matcher({"jql": JQL, "fields": "id", "startAt": "0"}, strict_match=False)
        ],
    )


@responses.activate
def test_full_sync_on_an_allowed_private_network(
    teams: dict[str, Any], allowed: None, sleeps: list[float]
) -> None:
    connection = jira_dc()
    add_listing()
    add_ids()
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    first = responses.calls[0].request
    assert "customfield_10008" in first.url and first.headers["Authorization"] == PAT["Authorization"]
    got = items(connection)
    assert set(got) == {"11001", "11002", "11003", "11004"}
    epic, story, dns_item, subtask = got["11001"], got["11002"], got["11003"], got["11004"]
    assert epic.kind == "epic" and story.kind == "story"
    # Epic Link (a key) resolves by the epic's URL; the sub-task's parent field by id.
    assert story.parent_id == epic.pk and dns_item.parent_id == epic.pk and subtask.parent_id == story.pk
    assert epic.description == "Move every service to the new *datacenter*."
    assert epic.target_date.isoformat() == "2027-01-31" and story.components == ["database"]
    assert subtask.status_category == "done" and story.status_category == "in_progress"
    assert story.team == teams["beta"] and story.assignee == "Jane Doe"
    assert {(d.from_item_id, d.to_item_id, d.kind) for d in Dependency.objects.all()} == {
        (story.pk, dns_item.pk, "blocks")
    }
    assert got["11004"].is_gone  # not in the id listing


@responses.activate
def test_a_private_host_is_refused_unless_its_network_is_allowed(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = jira_dc()
    add_listing()
    result = sync(connection)
    assert result.outcome == "paused"
    assert "CONNECTOR_ALLOWED_NETWORKS" in connection.paused_reason
    assert len(responses.calls) == 0 and not PortfolioItem.objects.exists()


@responses.activate
def test_incremental_sync_filters_by_updated_and_moves_the_story_to_another_epic(
    teams: dict[str, Any], allowed: None, sleeps: list[float]
) -> None:
    connection = jira_dc()
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    responses.reset()
    responses.add(responses.GET, MYSELF, json=fixture("jira_dc/myself.json"))
    want = 'project in ("INFRA") AND updated >= "2026/11/21 09:00" ORDER BY updated ASC'
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_dc/search_incremental.json"),
        match=[matchers.query_param_matcher({"jql": want, "startAt": "0"}, strict_match=False)],
    )
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert len(got) == 5 and PortfolioItem.objects.filter(external_id="11003").count() == 1
    assert got["11003"].parent_id == got["11005"].pk
    # Its blocking link is still reported from its own side, so the dependency stays.
    assert Dependency.objects.count() == 1


@responses.activate
def test_429_is_retried_after_the_servers_wait(
    teams: dict[str, Any], allowed: None, sleeps: list[float]
) -> None:
    connection = jira_dc()
    responses.add(responses.GET, SEARCH, status=429, body="", headers={"Retry-After": "3"})
    add_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert sleeps == [3.0]


@responses.activate
def test_revoked_token_is_permanent(teams: dict[str, Any], allowed: None, sleeps: list[float]) -> None:
    connection = jira_dc()
    responses.add(responses.GET, SEARCH, status=401, json=fixture("jira_dc/error_401.json"))
    assert sync(connection).outcome == "paused"
    assert "not authenticated" in connection.paused_reason and sleeps == []


@responses.activate
def test_check_calls_myself(teams: dict[str, Any], allowed: None) -> None:
    connection = jira_dc()
    responses.add(
        responses.GET, MYSELF, json=fixture("jira_dc/myself.json"), match=[matchers.header_matcher(PAT)]
    )
    result = connection.build_connector().check()
    assert result.ok and "Jane Doe" in result.message
