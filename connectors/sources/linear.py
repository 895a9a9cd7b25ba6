"""Linear: projects and issues of the configured teams over the GraphQL API, with relations.

API (https://linear.app/developers/graphql): POST https://api.linear.app/graphql with
``Authorization: <personal API key>``. Connections page with ``first``/``after`` and
``pageInfo { hasNextPage endCursor }``; incremental reads filter ``updatedAt: { gte: <since> }``.

- Projects become epics ("project:<id>"), issues stories ("issue:<id>"); an issue's parent is its
  parent issue, else its project. Kinds can be overridden by label through the kind map.
- Status comes from the workflow state's type: triage, backlog, unstarted -> todo; started ->
  in_progress; completed, canceled -> done.
- Relations: "blocks" becomes a blocks dependency; "related" and "duplicate" become relates. Both
  sides are read (relations and inverseRelations), so a link resolves whichever issue arrives last.
- Errors come back as GraphQL ``errors``: AUTHENTICATION_ERROR / FORBIDDEN are permanent; RATELIMITED
  (sent with HTTP 400) is transient and waits for the X-RateLimit-Requests-Reset (epoch ms) or
  X-RateLimit-Complexity-Reset header.
- Deleted or archived issues drop out of ``issues``; the periodic "inventory" stream marks them gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from typing import Any

import requests
from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Link, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.tracker_mapping import (
    ItemBuilder,
    Mapper,
    TrackerMappingForm,
    form_config,
    inventory_pages,
    iso,
    parse_date,
    parse_dt,
    parse_points,
)

ENDPOINT = "https://api.linear.app/graphql"
PAGE_SIZE = 50
STATE_TYPES = {
    "triage": "todo",
    "backlog": "todo",
    "unstarted": "todo",
    "started": "in_progress",
    "completed": "done",
    "canceled": "done",
}
PROJECT_STATES = {
    "backlog": "todo",
    "planned": "todo",
    "started": "in_progress",
    "paused": "in_progress",
    "completed": "done",
    "canceled": "done",
}
RELATION_KINDS = {"blocks": "blocks", "related": "relates", "duplicate": "relates"}
PERMANENT_CODES = {"AUTHENTICATION_ERROR", "FORBIDDEN", "GRAPHQL_VALIDATION_FAILED", "INVALID_INPUT"}

VIEWER = "query Viewer { viewer { id name email } }"
ISSUES = """
query Issues($first: Int!, $after: String, $filter: IssueFilter) {
  issues(first: $first, after: $after, filter: $filter, orderBy: updatedAt) {
    nodes {
      id identifier title description url updatedAt completedAt canceledAt dueDate
      estimate startedAt createdAt
      state { name type }
      team { id key name }
      project { id }
      parent { id }
      assignee { name displayName }
      labels { nodes { name } }
      relations { nodes { type relatedIssue { id } } }
      inverseRelations { nodes { type issue { id } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
PROJECTS = """
query Projects($first: Int!, $after: String, $filter: ProjectFilter) {
  projects(first: $first, after: $after, filter: $filter, orderBy: updatedAt) {
    nodes {
      id name description url state startDate targetDate updatedAt completedAt startedAt createdAt
      teams { nodes { key } }
      labels { nodes { name } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ISSUE_IDS = """
query IssueIds($first: Int!, $after: String, $filter: IssueFilter) {
  issues(first: $first, after: $after, filter: $filter) { nodes { id } pageInfo { hasNextPage endCursor } }
}
"""
PROJECT_IDS = """
query ProjectIds($first: Int!, $after: String, $filter: ProjectFilter) {
  projects(first: $first, after: $after, filter: $filter) { nodes { id } pageInfo { hasNextPage endCursor } }
}
"""


def _error_codes(payload: Any) -> set[str]:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return {str((e.get("extensions") or {}).get("code") or "") for e in errors or [] if isinstance(e, dict)}


def _rate_limited(response: requests.Response) -> bool:
    try:
        return "RATELIMITED" in _error_codes(response.json())
    except ValueError:
        return False


class LinearConfigForm(TrackerMappingForm):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="A personal API key from Linear: Settings > Account > Security & access > Personal API keys "
        "(https://linear.app/settings/account/security). Stored encrypted; leave blank to keep the old one.",
    )
    field_order = ["api_key", "scopes"]
    scopes_required = False
    scopes_example = '{"ENG": {"team": "payments", "product": "checkout"}, "OPS": {}}'
    scopes_help = (
        "The Linear team keys to read, each with the slug (or name) of an existing team and product; {} "
        "for a team keeps the connection's own. Leave empty to read every team the API key can see; "
        "items then get the connection's team and product."
    )


@register
class LinearConnector(Connector):
    kind = "linear"
    label = "Linear"
    family = "portfolio"
    description = (
        "Projects and issues of the chosen Linear teams: workflow state, labels, due and target dates, "
        "parent issues and projects as the hierarchy, and blocks / related / duplicate relations."
    )
    docs_url = "https://linear.app/developers/graphql"
    config_form = LinearConfigForm
    secret_fields = ("api_key", "hook_secret")
    sleep: Any = None  # tests inject a no-op sleep for the HTTP client's waits

    @cached_property
    def clean(self) -> dict[str, Any]:
        """The config as its form cleans it, once per connector instance."""
        return form_config(self.config_form, self.config)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            kwargs: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
            self._client = HttpClient(
                headers={
                    "Authorization": self.secrets.get("api_key", ""),
                    "Content-Type": "application/json",
                },
                reset_headers=("X-RateLimit-Requests-Reset", "X-RateLimit-Complexity-Reset"),
                transient_if=_rate_limited,
                **kwargs,
            )
        return self._client

    def teams(self) -> list[str]:
        return sorted(self.clean["scopes"])

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL call; errors become ConnectorErrors a user can act on."""
        try:
            response = self.client.request(
                "POST", ENDPOINT, json_body={"query": query, "variables": variables or {}}, expect_json=True
            )
        except ConnectorError as exc:
            if "AUTHENTICATION_ERROR" in exc.message or "FORBIDDEN" in exc.message:
                raise ConnectorError(
                    "Linear refused the API key (authentication error). Create a new personal API key in Linear "
                    "and paste it into the connection's settings.",
                    permanent=True,
                ) from None
            raise
        payload = response.json()
        codes = _error_codes(payload)
        if codes:
            message = "; ".join(str(e.get("message", "")) for e in payload.get("errors") or [])[:300]
            if codes & {"AUTHENTICATION_ERROR", "FORBIDDEN"}:
                raise ConnectorError(
                    f"Linear refused the API key ({message}). Create a new personal API key and paste it into "
                    "the connection's settings.",
                    permanent=True,
                )
            if not payload.get("data"):
                raise ConnectorError(
                    f"Linear answered with an error: {message}.", permanent=bool(codes & PERMANENT_CODES)
                )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ConnectorError("Linear's answer had no data; the next sync retries.", permanent=False)
        return data

    # -- the interface

    def check(self) -> CheckResult:
        try:
            viewer = self.graphql(VIEWER).get("viewer") or {}
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(
            True, f"Connected to Linear as {viewer.get('name') or viewer.get('email') or 'the key owner'}."
        )

    def streams(self) -> list[str]:
        return ["projects", "items", "inventory"]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        cfg = self.clean
        if stream == "inventory":
            yield from inventory_pages(cursor, cfg.get("gone_check_hours"), self._list_ids)
            return
        mapper = Mapper(cfg)
        builder = ItemBuilder("linear")
        state = cursor if isinstance(cursor, dict) else {}
        since = parse_dt(state.get("since"))
        # Newest first (Linear orders updatedAt descending), so the new "since" is known only at the end;
        # until then the cursor keeps the old since and the page cursor to resume from.
        newest = parse_dt(state.get("newest")) or since
        is_projects = stream == "projects"
        query, root = (PROJECTS, "projects") if is_projects else (ISSUES, "issues")
        after = state.get("after")
        while True:
            variables = {"first": PAGE_SIZE, "after": after, "filter": self._filter(is_projects, since)}
            conn = self.graphql(query, variables).get(root) or {}
            records: list[Record] = []
            links: list[Link] = []
            for node in conn.get("nodes") or []:
                record, node_links = (self.map_project if is_projects else self.map_issue)(
                    node, mapper, builder
                )
                records.append(record)
                links.extend(node_links)
                updated = record.values["updated_at_source"]
                if updated and (newest is None or updated > newest):
                    newest = updated
            info = conn.get("pageInfo") or {}
            following = info.get("endCursor") if info.get("hasNextPage") else None
            if following is None or following == after:
                links.extend(builder.all_parents())
                yield Page(records, {"since": iso(newest)} if newest else None, done=True, links=links)
                return
            resume = {
                "since": iso(since) if since else None,
                "after": following,
                "newest": iso(newest) if newest else None,
            }
            yield Page(records, resume, done=False, links=links)
            after = following

    def _filter(self, projects: bool, since: datetime | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.teams():  # no team listed: every team the key can see
            teams = {"key": {"in": self.teams()}}
            out = {"accessibleTeams": teams} if projects else {"team": teams}
        if since is not None:
            out["updatedAt"] = {"gte": iso(since)}
        return out

    # -- mapping

    def map_project(
        self, project: dict[str, Any], mapper: Mapper, builder: ItemBuilder
    ) -> tuple[Record, list[Link]]:
        labels = [n["name"] for n in (project.get("labels") or {}).get("nodes") or [] if isinstance(n, dict)]
        team_keys = sorted(n.get("key", "") for n in (project.get("teams") or {}).get("nodes") or [])
        scope = next((k for k in team_keys if k.lower() in mapper.scopes), team_keys[0] if team_keys else "")
        values = {
            "kind": mapper.kind("project", labels, "epic"),
            "title": project.get("name") or "",
            "description": project.get("description") or "",
            "status": project.get("state") or "",
            "status_category": PROJECT_STATES.get(str(project.get("state") or "").lower(), "todo"),
            "labels": labels,
            "start_date": parse_date(project.get("startDate")),
            "target_date": parse_date(project.get("targetDate")),
            "url": project.get("url") or "",
            "updated_at_source": parse_dt(project.get("updatedAt")),
            "created_at_source": parse_dt(project.get("createdAt")),
            "started_at": parse_dt(project.get("startedAt")),
            "done_at": parse_dt(project.get("completedAt")),
        }
        external_id = f"project:{project['id']}"
        return builder.item(external_id, values, mapper.placement(scope, labels)), [
            builder.parent(external_id, None)
        ]

    def map_issue(
        self, issue: dict[str, Any], mapper: Mapper, builder: ItemBuilder
    ) -> tuple[Record, list[Link]]:
        labels = [n["name"] for n in (issue.get("labels") or {}).get("nodes") or [] if isinstance(n, dict)]
        wf = issue.get("state") or {}
        assignee = issue.get("assignee") or {}
        team = (issue.get("team") or {}).get("key") or ""
        values = {
            "kind": mapper.kind("issue", labels, "story"),
            "title": issue.get("title") or issue.get("identifier") or "",
            "description": issue.get("description") or "",
            "status": wf.get("name") or "",
            "status_category": STATE_TYPES.get(str(wf.get("type") or ""), "todo"),
            "labels": labels,
            "target_date": parse_date(issue.get("dueDate")),
            "url": issue.get("url") or "",
            "assignee": assignee.get("displayName") or assignee.get("name") or "",
            "updated_at_source": parse_dt(issue.get("updatedAt")),
            "created_at_source": parse_dt(issue.get("createdAt")),
            "started_at": parse_dt(issue.get("startedAt")),
            "estimate_points": parse_points(issue.get("estimate")),  # the team's estimate scale
            "done_at": parse_dt(issue.get("completedAt") or issue.get("canceledAt")),
        }
        external_id = f"issue:{issue['id']}"
        parent = (issue.get("parent") or {}).get("id")
        project = (issue.get("project") or {}).get("id")
        parent_ref = f"issue:{parent}" if parent else f"project:{project}" if project else None
        links = [builder.parent(external_id, parent_ref)]
        for rel in (issue.get("relations") or {}).get("nodes") or []:
            kind = RELATION_KINDS.get(str(rel.get("type")))
            other = (rel.get("relatedIssue") or {}).get("id")
            if kind and other:
                links.append(Link(kind, external_id, f"issue:{other}"))
        for rel in (issue.get("inverseRelations") or {}).get("nodes") or []:
            kind = RELATION_KINDS.get(str(rel.get("type")))
            other = (rel.get("issue") or {}).get("id")
            if kind and other:
                links.append(Link(kind, f"issue:{other}", external_id))
        return builder.item(external_id, values, mapper.placement(team, labels)), links

    def _list_ids(self) -> Iterator[list[str]]:
        for query, root, prefix, projects in (
            (PROJECT_IDS, "projects", "project", True),
            (ISSUE_IDS, "issues", "issue", False),
        ):
            after = None
            while True:
                variables = {"first": 250, "after": after, "filter": self._filter(projects, None)}
                conn = self.graphql(query, variables).get(root) or {}
                yield [f"{prefix}:{n['id']}" for n in conn.get("nodes") or []]
                info = conn.get("pageInfo") or {}
                if not info.get("hasNextPage") or not info.get("endCursor") or info.get("endCursor") == after:
                    break
                after = info["endCursor"]
