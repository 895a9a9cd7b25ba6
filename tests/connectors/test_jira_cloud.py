"""Jira Cloud through the real sync loop, replayed from /rest/api/3/search/jql fixtures."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from connectors.sources.jira_cloud import JiraCloudConnector, adf_text
from productops.portfolio.models import Dependency, PortfolioItem

from .portfolio_sync import fixture, items, make_connection, make_teams, sync

SITE = "https://acme.atlassian.net"
SEARCH = f"{SITE}/rest/api/3/search/jql"
MYSELF = f"{SITE}/rest/api/3/myself"
BASIC = "Basic cG1AYWNtZS5leGFtcGxlOmppcmEtdG9rZW4tMDEyMzQ1"  # pm@acme.example:jira-token-012345


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["acme.atlassian.net"] = ["104.192.142.25"]
    return fake_dns


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(JiraCloudConnector, "sleep", staticmethod(slept.append))
    return slept


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


def jira(teams: dict[str, Any], **extra: Any) -> Any:
    config = {
        "site_url": SITE,
        "email": "pm@acme.example",
        "scopes": {
            "ALPHA": {"team": "alpha", "product": "checkout"},
            "BETA": {"team": "beta", "product": "payments"},
        },
        "gone_check_hours": 24,
        **extra,
    }
    return make_connection("jira_cloud", config, {"api_token": "jira-token-012345"}, name="Acme Jira")


def add_myself() -> None:
    responses.add(
        responses.GET,
        MYSELF,
        json=fixture("jira_cloud/myself.json"),
        match=[matchers.header_matcher({"Authorization": BASIC})],
    )


FULL_JQL = 'project in ("ALPHA", "BETA") ORDER BY updated ASC'


def add_full_listing() -> None:
    add_myself()
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_cloud/search_jql_page1.json"),
        match=[
            matchers.query_param_matcher({"jql": FULL_JQL, "maxResults": "100"}, strict_match=False),
            matchers.header_matcher({"Authorization": BASIC}),
        ],
    )
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_cloud/search_jql_page2.json"),
        match=[
            matchers.query_param_matcher({"jql": FULL_JQL, "nextPageToken": "CAEaAggD"}, strict_match=False)
        ],
    )


def add_ids(page2: str = "jira_cloud/search_jql_ids_page2.json") -> None:
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_cloud/search_jql_ids_page1.json"),
        match=[matchers.query_param_matcher({"jql": FULL_JQL, "fields": "id"}, strict_match=False)],
    )
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture(page2),
        match=[
            matchers.query_param_matcher(
                {"jql": FULL_JQL, "fields": "id", "nextPageToken": "CAEaAggE"}, strict_match=False
            )
        ],
    )


@responses.activate
def test_full_sync_maps_hierarchy_status_dates_teams_and_dependencies(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = jira(teams, gone_check_hours=10_000)
    add_full_listing()
    add_ids("jira_cloud/search_jql_ids_page2.json")
    result = sync(connection)
    assert result.outcome == "succeeded", result.message

    got = items(connection)
    assert set(got) == {"10000", "10001", "10002", "10003", "10100", "10101"}
    initiative, epic, story = got["10000"], got["10001"], got["10002"]
    assert (initiative.kind, epic.kind, story.kind) == ("initiative", "epic", "story")
    # Parents resolve even when the parent arrives on a later page than its child (10000 after 10001).
    assert epic.parent_id == initiative.pk and story.parent_id == epic.pk
    assert got["10101"].parent_id == got["10100"].pk
    assert story.status == "In Review" and story.status_category == "in_progress"
    assert got["10101"].status_category == "todo" and got["10003"].status_category == "done"
    assert got["10003"].done_at is not None and story.done_at is None
    assert epic.target_date.isoformat() == "2026-12-15"  # fix version release date
    assert story.target_date.isoformat() == "2026-12-01"  # due date
    assert story.labels == ["checkout", "frontend"] and story.components == ["web"]
    assert story.team == teams["alpha"] and story.product == teams["checkout"]
    assert got["10101"].team == teams["beta"] and got["10101"].product == teams["payments"]
    assert (
        story.url == f"{SITE}/browse/ALPHA-2" and story.assignee == "Grace Hopper" and story.tracker == "jira"
    )
    assert epic.description == "Rebuild the checkout flow.\nfirst point"

    deps = {(d.from_item.external_id, d.to_item.external_id, d.kind) for d in Dependency.objects.all()}
    # ALPHA-2 blocks BETA-1 (cross-team), BETA-1 relates to ALPHA-3; OPS-7 is outside the scope: skipped.
    assert deps == {("10002", "10101", "blocks"), ("10101", "10003", "relates")}

    # Re-running the same data changes nothing and duplicates nothing.
    add_full_listing()
    assert sync(connection, full=True).outcome == "succeeded"
    assert PortfolioItem.objects.count() == 6 and Dependency.objects.count() == 2


@responses.activate
def test_incremental_sync_asks_for_updated_since_in_the_users_zone_and_moves_the_item(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = jira(teams, gone_check_hours=10_000)
    add_full_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert connection.cursors["items"] == {"since": "2026-11-21T10:00:00+01:00"}

    responses.reset()
    add_myself()
    # Newest stored update 10:00 +01:00; the user's zone is Europe/Berlin (+01:00 in November).
    want = 'project in ("ALPHA", "BETA") AND updated >= "2026/11/21 10:00" ORDER BY updated ASC'
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_cloud/search_jql_incremental.json"),
        match=[matchers.query_param_matcher({"jql": want, "maxResults": "100"}, strict_match=False)],
    )
    assert sync(connection).outcome == "succeeded"
    search_calls = [c for c in responses.calls if c.request.url.startswith(SEARCH)]
    assert (
        len(search_calls) == 1
        and "updated+%3E%3D+%222026%2F11%2F21+10%3A00%22" in search_calls[0].request.url
    )

    got = items(connection)
    assert len(got) == 6  # moved, not duplicated
    moved = got["10002"]
    assert moved.team == teams["beta"] and moved.product == teams["payments"]  # now in project BETA
    assert moved.parent_id == got["10100"].pk  # now under the other team's epic
    assert moved.url == f"{SITE}/browse/BETA-9"
    # Its links are gone at the source, so the dependency it had is removed; the other stays.
    deps = {(d.from_item.external_id, d.to_item.external_id) for d in Dependency.objects.all()}
    assert deps == {("10101", "10003")}


@responses.activate
def test_deleted_issue_is_marked_gone_after_the_full_listing(
    teams: dict[str, Any], sleeps: list[float]
) -> None:
    connection = jira(teams, gone_check_hours=0)
    add_full_listing()
    add_ids()
    assert sync(connection).outcome == "succeeded"
    got = items(connection)
    assert got["10003"].is_gone and got["10003"].gone_at is not None  # not in the id listing
    assert not any(i.is_gone for k, i in got.items() if k != "10003")
    assert "listed_at" in connection.cursors["inventory"]


@responses.activate
def test_a_partial_listing_marks_nothing_gone(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = jira(teams, gone_check_hours=0)
    add_full_listing()
    responses.add(
        responses.GET,
        SEARCH,
        json=fixture("jira_cloud/search_jql_ids_page1.json"),
        match=[matchers.query_param_matcher({"fields": "id"}, strict_match=False)],
    )
    responses.add(
        responses.GET,
        SEARCH,
        status=400,
        json={"errorMessages": ["The nextPageToken is invalid."], "errors": {}},
        match=[
            matchers.query_param_matcher({"fields": "id", "nextPageToken": "CAEaAggE"}, strict_match=False)
        ],
    )
    assert sync(connection).outcome == "paused"
    assert not PortfolioItem.objects.filter(is_gone=True).exists()
    assert "inventory" not in connection.cursors or "listed_at" not in (connection.cursors["inventory"] or {})


@responses.activate
def test_429_waits_for_retry_after_then_continues(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = jira(teams, gone_check_hours=10_000)
    add_myself()
    responses.add(
        responses.GET,
        SEARCH,
        status=429,
        json=fixture("jira_cloud/error_429.json"),
        headers={"Retry-After": "7", "X-RateLimit-Reset": "2026-11-21T10:01Z"},
    )
    responses.add(responses.GET, SEARCH, json=fixture("jira_cloud/search_jql_page1.json"))
    responses.add(responses.GET, SEARCH, json=fixture("jira_cloud/search_jql_page2.json"))
    add_ids()
    assert sync(connection).outcome == "succeeded"
    assert sleeps == [7.0]
    assert PortfolioItem.objects.count() == 6


@responses.activate
def test_bad_token_is_permanent_and_pauses_the_connection(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = jira(teams)
    responses.add(responses.GET, SEARCH, status=401, json=fixture("jira_cloud/error_401.json"))
    result = sync(connection)
    assert result.outcome == "paused"
    assert not connection.enabled and "credentials" in connection.paused_reason
    assert "jira-token-012345" not in connection.paused_reason
    assert sleeps == []


@responses.activate
def test_check_makes_one_authenticated_call(teams: dict[str, Any]) -> None:
    connection = jira(teams)
    add_myself()
    result = JiraCloudConnector(connection.config, connection.get_secrets()).check()
    assert result.ok and "Priya PM" in result.message and len(responses.calls) == 1


def test_config_form_resolves_slugs_and_refuses_unknown_ones(teams: dict[str, Any]) -> None:
    form_cls = JiraCloudConnector.config_form
    good = form_cls(
        data={
            "site_url": SITE,
            "email": "a@b.example",
            "scopes": '{"ALPHA": {"team": "alpha"}}',
            "kind_map": '{"Feature": "epic"}',
        }
    )
    assert good.is_valid(), good.errors
    assert good.cleaned_data["scopes"]["ALPHA"]["team_id"] == teams["alpha"].pk
    bad = form_cls(data={"site_url": SITE, "email": "a@b.example", "scopes": '{"ALPHA": {"team": "nobody"}}'})
    assert not bad.is_valid() and "no team with slug 'nobody'" in bad.errors["scopes"][0]
    assert "api-tokens" in str(form_cls().fields["api_token"].help_text)


def test_adf_to_text() -> None:
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Goal"}]},
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Ship it"},
                    {"type": "hardBreak"},
                    {"type": "mention", "attrs": {"id": "1", "text": "@Ada"}},
                ],
            },
        ],
    }
    assert adf_text(doc) == "Goal\nShip it\n@Ada"
    assert adf_text(None) == ""


@responses.activate
def test_lead_adds_a_jira_connection_in_the_ui_with_test_connection(
    teams: dict[str, Any], lead_client: Any
) -> None:
    from django.urls import reverse

    from connectors.models import Connection

    url = reverse("connectors:create", args=["jira_cloud"])
    page = lead_client.get(url).content.decode()
    assert "id.atlassian.com/manage-profile/security/api-tokens" in page and "scopes" in page
    data = {
        "name": "Acme Jira",
        "schedule_kind": "interval",
        "interval_minutes": "30",
        "crontab": "",
        "site_url": SITE,
        "email": "pm@acme.example",
        "api_token": "jira-token-012345",
        "scopes": '{"ALPHA": {"team": "alpha", "product": "checkout"}}',
        "overrides": "[]",
        "kind_map": "{}",
        "in_progress_labels": "doing",
        "gone_check_hours": "24",
        "extra_jql": "",
    }
    add_myself()
    tested = lead_client.post(url, {**data, "action": "test"}).content.decode()
    assert "Connected to https://acme.atlassian.net as Priya PM" in tested
    lead_client.post(url, {**data, "action": "save"})
    connection = Connection.objects.get()
    assert connection.config["scopes"]["ALPHA"]["team_id"] == teams["alpha"].pk
    assert connection.get_secrets() == {"api_token": "jira-token-012345"}
    assert "api_token" not in connection.config


@responses.activate
def test_story_points_come_from_the_configured_field(teams: dict[str, Any], sleeps: list[float]) -> None:
    connection = jira(teams, gone_check_hours=10_000, story_points_field="customfield_10016")
    add_full_listing()
    add_ids("jira_cloud/search_jql_ids_page2.json")
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    searched = [
        c.request.url for c in responses.calls if "search/jql" in c.request.url and "summary" in c.request.url
    ]
    assert searched and all("customfield_10016" in url for url in searched)
    got = items(connection)
    first = fixture("jira_cloud/search_jql_page1.json")["issues"][0]["id"]
    assert got[first].estimate_points == 5.0
    assert all(i.estimate_points is None for k, i in got.items() if k != first)
    assert got[first].created_at_source is not None
    assert got[first].created_at_source.isoformat().startswith("2026-10-02T09:00")


def test_a_story_points_field_must_be_a_custom_field_id() -> None:
    from connectors.sources.jira_cloud import JiraCloudConfigForm

    form = JiraCloudConfigForm(data={"story_points_field": "summary"})
    form.is_valid()
    assert "story_points_field" in form.errors
