"""The trackers and Zendesk against what their vendors really send: recorded responses (see each fixture
folder's README for the source), older shapes without optional fields, renamed projects, empty last
pages and deleted items, replayed through the real sync loop."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.sources.github import GitHubConnector, is_pull_request
from connectors.sources.gitlab import GitLabConnector, issue_scopes
from connectors.sources.jira_cloud import JiraCloudConnector
from connectors.sources.jira_dc import JiraDataCenterConnector
from connectors.sources.linear import LinearConnector
from productops.signals.models import SupportTicket

from .portfolio_sync import fixture, items, make_connection, make_teams, sync


@pytest.fixture(autouse=True)
def dns(fake_dns: Any, settings: Any) -> Any:
    fake_dns.records.update(
        {
            "api.github.com": ["140.82.112.6"],
            "gitlab.example.com": ["35.231.145.151"],
            "jira.example.com": ["104.192.142.30"],
            "restapijira.atlassian.net": ["104.192.142.25"],
            "api.linear.app": ["104.18.29.241"],
            "acme.zendesk.com": ["104.16.51.111"],
        }
    )
    return fake_dns


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    for cls in (
        GitHubConnector,
        GitLabConnector,
        JiraDataCenterConnector,
        JiraCloudConnector,
        LinearConnector,
    ):
        monkeypatch.setattr(cls, "sleep", staticmethod(slept.append))
    return slept


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


# -- GitHub ---------------------------------------------------------------------------------------------

GH_ISSUES = "https://api.github.com/repos/PyGithub/PyGithub/issues"
# The headers of the recording (2012: no X-RateLimit-Reset yet).
GH_RECORDED_HEADERS = {
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": "4950",
    "etag": '"41676dcfbbfc49368e60f758c3e1d36f"',
}


def github(teams: dict[str, Any]) -> Any:
    config = {
        "scopes": {"PyGithub/PyGithub": {"team": "beta", "product": "payments"}},
        "gone_check_hours": 10_000,
    }
    return make_connection("github", config, {"token": "ghp-test-0123456789"}, name="PyGithub")


def test_is_pull_request_reads_the_url_not_the_key() -> None:
    recorded = fixture("github/recorded_2012_issues_null_pull_request.json")
    assert [is_pull_request(i) for i in recorded] == [False, False, False]
    modern_pr = fixture("github/repo_issues_page1.json")[1]
    assert modern_pr["pull_request"]["html_url"] and is_pull_request(modern_pr)
    assert is_pull_request(
        {"pull_request": {"url": "https://api.github.com/repos/a/b/pulls/1", "html_url": None}}
    )
    assert not is_pull_request({"number": 1})


@responses.activate
def test_github_2012_recording_keeps_plain_issues_that_carry_a_null_pull_request(
    teams: dict[str, Any],
) -> None:
    connection = github(teams)
    responses.add(
        responses.GET,
        GH_ISSUES,
        json=fixture("github/recorded_2012_issues_null_pull_request.json"),
        headers=GH_RECORDED_HEADERS,
    )
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {"4769659", "4639931", "3716033"}
    issue = got["4769659"]
    assert issue.title == "Issue also created by PyGithub" and issue.status_category == "todo"
    assert issue.team == teams["beta"] and issue.product == teams["payments"]
    assert issue.target_date.isoformat() == "2012-06-04" and issue.assignee == "jacquev6"
    assert got["3716033"].target_date is None  # "milestone": null


# -- GitLab ---------------------------------------------------------------------------------------------

GL = "https://gitlab.example.com/api/v4"


def gitlab(scopes: dict[str, Any]) -> Any:
    config = {
        "base_url": "https://gitlab.example.com",
        "scopes": scopes,
        "read_epics": False,
        "gone_check_hours": 10_000,
    }
    return make_connection("gitlab", config, {"token": "glpat-test-0123456789"}, name="GitLab old")


def test_issue_scopes_fall_back_to_the_listed_scope_then_project_id() -> None:
    old = fixture("gitlab/issues_without_references.json")[0]
    assert "references" not in old
    assert issue_scopes(old, "project:acme/app") == ["project:acme/app", "project:4"]
    assert issue_scopes(old, "group:acme") == ["project:4", "group:acme"]
    renamed = fixture("gitlab/project_issues_renamed.json")[0]
    assert issue_scopes(renamed, "project:acme/app") == [
        "project:acme/app-renamed",
        "project:acme/app",
        "project:4",
        "group:acme",
    ]


@responses.activate
def test_gitlab_issues_without_references_keep_their_team_and_product(teams: dict[str, Any]) -> None:
    # project:acme/app by path (listed), project 5 by numeric id, the rest by the group being listed.
    connection = gitlab(
        {
            "group:acme": {"team": "alpha", "product": "checkout"},
            "project:acme/app": {"team": "beta", "product": "payments"},
            "project:5": {"team": "beta", "product": "checkout"},
        }
    )
    old = fixture("gitlab/issues_without_references.json")
    responses.add(responses.GET, f"{GL}/projects/acme%2Fapp/issues", json=[old[0]])
    responses.add(responses.GET, f"{GL}/projects/5/issues", json=[])
    responses.add(responses.GET, f"{GL}/groups/acme/issues", json=old)
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {"issue:41", "issue:42"}
    # Issue 41 is listed by the group and by project:acme/app (projects are read after groups): the
    # listed project wins over the group, though the issue names neither.
    assert got["issue:41"].team == teams["beta"] and got["issue:41"].product == teams["payments"]
    # Issue 42 (project_id 5) is placed by project:5, more specific than the group being listed.
    assert got["issue:42"].team == teams["beta"] and got["issue:42"].product == teams["checkout"]
    assert got["issue:41"].status_category == "done" and got["issue:41"].assignee == "lennie"


@responses.activate
def test_gitlab_project_issues_without_references_are_placed_by_the_project_listed(
    teams: dict[str, Any],
) -> None:
    connection = gitlab(
        {"project:acme/app": {"team": "beta", "product": "payments"}, "project:acme/empty": {}}
    )
    responses.add(
        responses.GET,
        f"{GL}/projects/acme%2Fapp/issues",
        json=fixture("gitlab/issues_without_references.json")[:1],
    )
    responses.add(responses.GET, f"{GL}/projects/acme%2Fempty/issues", json=fixture("gitlab/empty_page.json"))
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    issue = items(connection)["issue:41"]
    assert issue.team == teams["beta"] and issue.product == teams["payments"]


@responses.activate
def test_gitlab_renamed_project_keeps_the_mapping_it_was_configured_with(teams: dict[str, Any]) -> None:
    connection = gitlab(
        {
            "group:acme": {"team": "alpha", "product": "checkout"},
            "project:acme/app": {"team": "beta", "product": "payments"},
        }
    )
    responses.add(responses.GET, f"{GL}/groups/acme/issues", json=[])
    responses.add(
        responses.GET, f"{GL}/projects/acme%2Fapp/issues", json=fixture("gitlab/project_issues_renamed.json")
    )
    assert sync(connection).outcome == "succeeded"
    issue = items(connection)["issue:43"]
    assert issue.team == teams["beta"] and issue.product == teams["payments"]  # not the group's alpha


# -- Jira Data Center (a Jira Server 7 recording) --------------------------------------------------------

DC = "https://jira.example.com"


@responses.activate
def test_jira_server_recording_with_an_empty_last_page_and_a_deleted_issue(
    teams: dict[str, Any], settings: Any
) -> None:
    config = {
        "base_url": DC,
        "scopes": {"JUZT": {"team": "beta", "product": "payments"}},
        "gone_check_hours": 0,
    }
    connection = make_connection(
        "jira_dc", config, {"personal_access_token": "pat-0123456789"}, name="Server"
    )
    search = f"{DC}/rest/api/2/search"
    responses.add(
        responses.GET, f"{DC}/rest/api/2/myself", json={"name": "sdt1", "timeZone": "America/Los_Angeles"}
    )
    # Page 1 (3 of a claimed 5), page 2 (1), then an empty page: an issue vanished between the requests.
    for start, name in (
        (0, "recorded_server7_search_page1"),
        (3, "recorded_server7_search_page2"),
        (4, "search_empty_last_page"),
    ):
        responses.add(
            responses.GET,
            search,
            json=fixture(f"jira_dc/{name}.json"),
            match=[matchers.query_param_matcher({"startAt": str(start)}, strict_match=False), _not_ids()],
        )
    responses.add(
        responses.GET,
        search,
        json=fixture("jira_dc/recorded_server7_ids.json"),
        match=[matchers.query_param_matcher({"fields": "id"}, strict_match=False)],
    )
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {"67290", "67253", "67249", "67225"}
    defect, sub, parent, resolved = got["67290"], got["67253"], got["67249"], got["67225"]
    assert defect.kind == "story" and defect.status_category == "todo"  # no hierarchyLevel on Server 7
    assert sub.parent_id == parent.pk and parent.status_category == "in_progress"
    assert resolved.status_category == "done" and resolved.done_at is not None
    assert parent.assignee == "Ericka Prieto" and defect.team == teams["beta"]
    assert sub.is_gone and not parent.is_gone  # JUZT-35 is no longer listed


def _not_ids() -> Any:
    def match(request: Any) -> tuple[bool, str]:
        return ("fields=id&" not in request.url and not request.url.endswith("fields=id")), "the ids listing"

    return match


# -- Jira Cloud (a 2022 Cloud recording), no scopes: every project -------------------------------------

CLOUD = "https://restapijira.atlassian.net"


@responses.activate
def test_jira_cloud_without_scopes_reads_every_project_with_a_bounded_query(teams: dict[str, Any]) -> None:
    config = {"site_url": CLOUD, "email": "restapijira@example.com", "scopes": {}, "gone_check_hours": 0}
    connection = make_connection("jira_cloud", config, {"api_token": "jira-token-0123456"}, name="Cloud")
    connection.team, connection.product = teams["alpha"], teams["checkout"]
    connection.save()
    search = f"{CLOUD}/rest/api/3/search/jql"
    bounded = 'updated >= "1970/01/01 00:00" ORDER BY updated ASC'
    responses.add(responses.GET, f"{CLOUD}/rest/api/3/myself", json={"timeZone": "Asia/Calcutta"})
    pages = [
        (None, "recorded_2022_search_jql_page1"),
        ("CAEaAggD", "recorded_2022_search_jql_page2"),
        ("CAEaAggG", "search_jql_empty_last_page"),
    ]
    for token, name in pages:
        params = {"jql": bounded, "maxResults": "100"} | ({"nextPageToken": token} if token else {})
        responses.add(
            responses.GET,
            search,
            json=fixture(f"jira_cloud/{name}.json"),
            match=[
                matchers.query_param_matcher(params, strict_match=False),
                _not_ids(),
                _no_token() if not token else _any(),
            ],
        )
    responses.add(
        responses.GET,
        search,
        json=fixture("jira_cloud/recorded_2022_ids.json"),
        match=[matchers.query_param_matcher({"jql": bounded, "fields": "id"}, strict_match=False)],
    )
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert set(got) == {"10126", "10123"}
    assert got["10123"].description.startswith("QA API Training") and got["10126"].description == ""
    assert got["10123"].team == teams["alpha"] and got["10123"].product == teams["checkout"]
    assert got["10126"].is_gone and not got["10123"].is_gone
    assert got["10123"].url == f"{CLOUD}/browse/AP-124"


def _no_token() -> Any:
    return lambda request: ("nextPageToken" not in request.url, "no page token on the first page")


def _any() -> Any:
    return lambda request: (True, "")


# -- Linear (issues recorded by another project's suite), no scopes: every team -------------------------


@responses.activate
def test_linear_recording_without_scopes_then_an_empty_last_page(teams: dict[str, Any]) -> None:
    connection = make_connection(
        "linear", {"scopes": {}, "gone_check_hours": 0}, {"api_key": "lin_api_x"}, name="L"
    )
    bodies: list[dict[str, Any]] = []

    def graphql(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        bodies.append(body)
        query, variables = body["query"], body["variables"]
        if "ProjectIds" in query or "query Projects" in query:
            return 200, {}, json.dumps(fixture("linear/projects_empty.json"))
        if "IssueIds" in query:
            return 200, {}, json.dumps(fixture("linear/recorded_heartbeat_ids.json"))
        name = "recorded_heartbeat_issues_page1" if variables.get("after") is None else "empty_last_page"
        return 200, {"X-RateLimit-Requests-Remaining": "1499"}, json.dumps(fixture(f"linear/{name}.json"))

    responses.add_callback(responses.POST, "https://api.linear.app/graphql", callback=graphql)
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    assert all("team" not in (b["variables"].get("filter") or {}) for b in bodies)  # every team
    got = items(connection)
    assert set(got) == {
        "issue:8d8e6b18-dc0a-464b-a405-1122f35331db",
        "issue:ee64895a-cf34-4d66-8184-add07fb49d4d",
    }
    started = got["issue:8d8e6b18-dc0a-464b-a405-1122f35331db"]
    assert started.status_category == "in_progress" and started.parent_id is None
    assert got["issue:ee64895a-cf34-4d66-8184-add07fb49d4d"].is_gone  # no longer listed: deleted or archived


# -- Zendesk: a deleted ticket, a ticket without the optional fields, an empty last page -------------------

ZD = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"


@responses.activate
def test_zendesk_deleted_ticket_closes_and_an_empty_last_page_ends_the_export(db: Any) -> None:
    from .signal_helpers import connection as signal_connection
    from .signal_helpers import sync as signal_sync

    config = {
        "subdomain": "acme",
        "email": "ops@acme.example",
        "start_date": "2026-03-01",
        "product_by": "tag",
        "product_map": {},
    }
    conn = signal_connection("zendesk", config, {"api_token": "zd-0123456789abcdef"})
    headers = {
        k: v for k, v in fixture("zendesk/response_headers_recorded.json").items() if not k.startswith("_")
    }
    first = fixture("zendesk/export_page1.json")
    first.update(end_of_stream=True)
    # The first sync starts a fresh export: deletions left out.
    responses.get(
        ZD,
        json=first,
        headers=headers,
        match=[
            matchers.query_param_matcher(
                {"include": "metric_sets", "exclude_deleted": "true"}, strict_match=False
            )
        ],
    )
    signal_sync(conn)
    assert conn.cursors["tickets"] == {"cursor": first["after_cursor"]}
    # The next sync continues from the cursor, deletions included: a deleted ticket and a ticket without
    # the optional fields, then an empty last page.
    responses.reset()
    page = fixture("zendesk/export_deleted_and_minimal.json")
    responses.get(
        ZD,
        json=page,
        headers=headers,
        match=[matchers.query_param_matcher({"cursor": first["after_cursor"], "include": "metric_sets"})],
    )
    responses.get(
        ZD,
        json=fixture("zendesk/export_empty_last_page.json"),
        headers=headers,
        match=[matchers.query_param_matcher({"cursor": page["after_cursor"], "include": "metric_sets"})],
    )
    signal_sync(conn)
    rows = {t.external_id: t for t in SupportTicket.objects.filter(source_key=conn.source_key)}
    assert {"301", "302"} <= set(rows)
    assert rows["301"].status == "closed" and "zendesk:deleted" in rows["301"].tags
    assert (
        rows["302"].status == "pending"
        and rows["302"].csat_rating is None
        and rows["302"].first_response_at is None
    )
    assert conn.cursors["tickets"] == {"cursor": page["after_cursor"]}
    assert len(responses.calls) == 2


@responses.activate
def test_jira_project_whose_key_changed_keeps_the_configured_mapping(teams: dict[str, Any]) -> None:
    config = {
        "site_url": CLOUD,
        "email": "restapijira@example.com",
        "scopes": {"OLDAP": {"team": "beta", "product": "payments"}},
        "gone_check_hours": 10_000,
    }
    connection = make_connection("jira_cloud", config, {"api_token": "jira-token-0123456"}, name="Renamed")
    search = f"{CLOUD}/rest/api/3/search/jql"
    responses.add(responses.GET, f"{CLOUD}/rest/api/3/myself", json={"timeZone": "Asia/Calcutta"})
    page = fixture("jira_cloud/recorded_2022_search_jql_page2.json")  # issues now carry key AP
    page.pop("nextPageToken")
    responses.add(
        responses.GET,
        search,
        json=page,
        match=[
            matchers.query_param_matcher(
                {"jql": 'project in ("OLDAP") ORDER BY updated ASC'}, strict_match=False
            )
        ],
    )
    project = responses.add(
        responses.GET,
        f"{CLOUD}/rest/api/3/project/OLDAP",
        json=fixture("jira_cloud/recorded_2022_project.json"),
    )
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    issue = items(connection)["10123"]
    assert issue.team == teams["beta"] and issue.product == teams["payments"]
    assert project.call_count == 1


@responses.activate
def test_github_renamed_repository_is_followed_and_keeps_its_mapping(teams: dict[str, Any]) -> None:
    connection = github(teams)
    moved = fixture("github/repo_renamed_301.json")
    responses.add(
        responses.GET,
        GH_ISSUES,
        status=301,
        json=moved,
        headers={"Location": moved["url"], "X-RateLimit-Remaining": "4999"},
    )
    responses.add(
        responses.GET,
        "https://api.github.com/repositories/1300192/issues",
        json=fixture("github/recorded_2012_issues_null_pull_request.json"),
        match=[matchers.query_param_matcher({"state": "all", "per_page": "100"}, strict_match=False)],
    )
    result = sync(connection)
    assert result.outcome == "succeeded", result.message
    got = items(connection)
    assert len(got) == 3 and all(
        i.team == teams["beta"] and i.product == teams["payments"] for i in got.values()
    )
    assert "PyGithub/PyGithub" in connection.cursors["items"]["repos"]
