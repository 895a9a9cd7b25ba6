"""Jira Cloud: epics, their children and issue links of the configured projects, into the portfolio.

Endpoints (REST v3, https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
- GET /rest/api/3/myself: the check, and the user's time zone (JQL dates are read in it);
- GET /rest/api/3/search/jql with jql, fields, maxResults and nextPageToken (the old /search is
  gone). The last page may leave nextPageToken out entirely, or say isLast: true; either ends.

Incremental: ``project in (...) AND updated >= "yyyy/MM/dd HH:mm" ORDER BY updated ASC`` from the
newest `updated` already stored (floored to the minute, so the boundary minute is re-read and the
upsert leaves those rows unchanged). A periodic "inventory" stream lists every id so deleted or moved
issues are marked gone. Auth: Basic with the account e-mail and an API token. A project whose key was
changed since it was configured still answers to the old key, but its issues carry the new one: they
are placed by the configured key, found once per sync through GET /rest/api/3/project/{key}
(https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-projectidorkey-get).

The Data Center / Server variant (jira_dc.py) shares this module's mapping.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.validators import RegexValidator

from connectors.base import CheckResult, Connector, ConnectorError, Link, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.tracker_mapping import (
    ItemBuilder,
    Mapper,
    TrackerMappingForm,
    form_config,
    inventory_pages,
    parse_date,
    parse_dt,
    parse_points,
)

log = logging.getLogger(__name__)

STATUS_CATEGORIES = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
FIELDS = [
    "summary",
    "description",
    "status",
    "issuetype",
    "labels",
    "components",
    "fixVersions",
    "duedate",
    "parent",
    "issuelinks",
    "assignee",
    "updated",
    "resolutiondate",
    "project",
    "created",
]
STORY_POINTS_HELP = (
    'The id of your story points field, e.g. customfield_10016 ("Story point estimate" in team-managed '
    'projects) or customfield_10026 ("Story Points"); find it under /rest/api/3/field. Leave empty to '
    'read estimates only from labels such as "size: M" or "points: 3".'
)


def story_points_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=50,
        validators=[RegexValidator(r"^customfield_\d{1,10}$")],
        help_text=STORY_POINTS_HELP,
    )


# Link types that become Dependency rows; matched on the type's name, case-insensitively.
BLOCKS = "blocks"
RELATES = {"relates", "duplicate"}


class JiraCloudConfigForm(TrackerMappingForm):
    site_url = forms.URLField(
        assume_scheme="https", help_text="Your Jira Cloud site, e.g. https://acme.atlassian.net"
    )
    email = forms.EmailField(help_text="The Atlassian account e-mail the API token belongs to.")
    api_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Create one at https://id.atlassian.com/manage-profile/security/api-tokens. Stored "
        "encrypted; leave blank to keep the old one.",
    )
    extra_jql = forms.CharField(
        required=False,
        max_length=500,
        help_text='Optional JQL ANDed to the query, e.g. issuetype != "Sub-task"',
    )
    story_points_field = story_points_field()
    field_order = ["site_url", "email", "api_token", "scopes", "story_points_field", "extra_jql"]
    scopes_required = False
    scopes_example = '{"ALPHA": {"team": "payments", "product": "checkout"}, "OPS": {}}'
    scopes_help = (
        "The Jira project keys to read, each with the slug (or name) of an existing team and product; {} "
        "for a project keeps the connection's own. Leave empty to read every project the account can see "
        "(narrow it with the JQL below); items then get the connection's team and product."
    )


def adf_text(node: Any) -> str:
    """Atlassian Document Format -> plain text: text nodes joined, blocks on their own lines."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    parts: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for child in n:
                walk(child)
            return
        if not isinstance(n, dict):
            return
        kind = n.get("type")
        if kind == "text":
            parts.append(str(n.get("text", "")))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind in ("mention", "emoji") and isinstance(n.get("attrs"), dict):
            parts.append(str(n["attrs"].get("text", "")))
        walk(n.get("content", []))
        if kind in ("paragraph", "heading", "listItem", "codeBlock", "blockquote", "rule"):
            parts.append("\n")

    walk(node)
    lines = [" ".join(line.split()) for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line).strip()


class JiraBase(Connector):
    """Shared by Jira Cloud and Data Center: the mapping of an issue, links, streams and cursors."""

    family = "portfolio"
    api = "3"
    tracker = "jira"
    sleep: Any = None  # tests inject a no-op sleep for the HTTP client's retries
    _aliases: dict[str, str] | None = None  # project id/current key -> configured key (renamed projects)

    # -- config and client

    @cached_property
    def clean(self) -> dict[str, Any]:
        """The config as its form cleans it, once per connector instance."""
        return form_config(self.config_form, {**self.config, **self._secret_placeholders()})

    def _secret_placeholders(self) -> dict[str, str]:
        return {}

    @property
    def base_url(self) -> str:
        return str(self.config.get("site_url") or self.config.get("base_url") or "").rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            kwargs: dict[str, Any] = {}
            if self.sleep is not None:
                kwargs["sleep"] = self.sleep
            self._client = HttpClient(
                headers=self.auth_headers(), reset_headers=("X-RateLimit-Reset",), **kwargs
            )
        return self._client

    def url(self, path: str) -> str:
        return f"{self.base_url}/rest/api/{self.api}/{path}"

    # -- the interface

    def check(self) -> CheckResult:
        try:
            me = self.client.get_json(self.url("myself"))
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        name = me.get("displayName") or me.get("name") or "the account"
        return CheckResult(True, f"Connected to {self.base_url} as {name}.")

    def streams(self) -> list[str]:
        return ["items", "inventory"]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        cfg = self.clean
        if stream == "inventory":
            yield from inventory_pages(cursor, cfg.get("gone_check_hours"), self._list_ids)
            return
        since = parse_dt(cursor.get("since")) if isinstance(cursor, dict) else None
        jql = self.jql(since)
        mapper = Mapper(cfg)
        builder = ItemBuilder(self.tracker)
        newest = since
        for issues, last in self.search(jql, self.item_fields()):
            records: list[Record] = []
            links: list[Link] = []
            for issue in issues:
                record, issue_links = self.map_issue(issue, mapper, builder)
                records.append(record)
                links.extend(issue_links)
                updated = record.values.get("updated_at_source")
                if updated and (newest is None or updated > newest):
                    newest = updated
            if last:
                links.extend(builder.all_parents())
            next_cursor = {"since": newest.isoformat()} if newest else cursor
            yield Page(records, next_cursor, done=last, links=links)

    # -- the query

    def item_fields(self) -> list[str]:
        """The fields an item needs: the standard ones and, where configured, the story points field."""
        points = str(self.clean.get("story_points_field") or "")
        return [*FIELDS, points] if points else list(FIELDS)

    def projects(self) -> list[str]:
        return sorted(self.clean["scopes"])  # sorted: a jsonb config does not keep key order

    def jql(self, since: datetime | None) -> str:
        keys = ", ".join(f'"{k}"' for k in self.projects())
        clauses = [f"project in ({keys})"] if keys else []
        extra = (self.clean.get("extra_jql") or "").strip()
        if extra:
            clauses.append(f"({extra})")
        if since is not None:
            local = since.astimezone(self.user_zone()).replace(second=0, microsecond=0)
            clauses.append(f'updated >= "{local:%Y/%m/%d %H:%M}"')
        if not clauses:
            # Every project: Jira Cloud's search/jql refuses an unbounded query ("Unbounded JQL queries
            # are not allowed here"), and a date restriction that matches everything bounds it.
            clauses.append('updated >= "1970/01/01 00:00"')
        return " AND ".join(clauses) + " ORDER BY updated ASC"

    def user_zone(self) -> Any:
        """JQL reads dates in the calling user's time zone (their profile), not UTC."""
        try:
            name = self.client.get_json(self.url("myself")).get("timeZone") or "UTC"
            return ZoneInfo(name)
        except ZoneInfoNotFoundError:
            return UTC

    def search(self, jql: str, fields: list[str]) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Jira Cloud's enhanced search: nextPageToken until it is missing or isLast is true."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": ",".join(fields), "maxResults": 100}
            if token:
                params["nextPageToken"] = token
            payload = self.client.get_json(self.url("search/jql"), params=params)
            following = payload.get("nextPageToken")
            last = bool(payload.get("isLast")) or not following or following in seen
            yield list(payload.get("issues") or []), last
            if last:
                return
            seen.add(following)
            token = following

    def configured_key(self, key: str, project_id: str) -> str:
        """The configured scope a project now called `key` was listed under.

        A Jira project whose key changed keeps answering to its old keys (in JQL and in
        GET /project/{key}), but its issues carry the new key. So when an issue names a key the mapping
        doesn't know, each configured key is looked up once and matched by the project's id or key.
        """
        if self._aliases is None:
            self._aliases = {}
            for configured in self.projects():
                try:
                    found = self.client.get_json(self.url(f"project/{configured}"))
                except ConnectorError as exc:
                    log.info("jira: project %s not looked up: %s", configured, exc.message)
                    continue
                for value in (found.get("id"), found.get("key")):
                    if value:
                        self._aliases[str(value).lower()] = configured
        return self._aliases.get(project_id.lower()) or self._aliases.get(key.lower()) or key

    def _list_ids(self) -> Iterator[list[str]]:
        for issues, _last in self.search(self.jql(None), ["id"]):
            yield [str(i["id"]) for i in issues]

    # -- mapping one issue

    def description_text(self, fields: dict[str, Any]) -> str:
        return adf_text(fields.get("description"))

    def parent_link(self, issue: dict[str, Any], builder: ItemBuilder) -> Link:
        parent = (issue.get("fields") or {}).get("parent")
        return builder.parent(str(issue["id"]), str(parent["id"]) if parent and parent.get("id") else None)

    def map_issue(
        self, issue: dict[str, Any], mapper: Mapper, builder: ItemBuilder
    ) -> tuple[Record, list[Link]]:
        fields = issue.get("fields") or {}
        issue_id = str(issue["id"])
        issuetype = fields.get("issuetype") or {}
        labels = [str(x) for x in fields.get("labels") or []]
        components = [c.get("name", "") for c in fields.get("components") or [] if isinstance(c, dict)]
        level = issuetype.get("hierarchyLevel")
        if level is None:
            level = 1 if (issuetype.get("name") or "").lower() == "epic" else 0
        default_kind = "initiative" if level >= 2 else "epic" if level == 1 else "story"
        status = fields.get("status") or {}
        category = STATUS_CATEGORIES.get(
            ((status.get("statusCategory") or {}).get("key") or "").lower(), "todo"
        )
        releases = [
            parse_date(v.get("releaseDate")) for v in fields.get("fixVersions") or [] if isinstance(v, dict)
        ]
        target = min((d for d in releases if d), default=None) or parse_date(fields.get("duedate"))
        project = (fields.get("project") or {}).get("key") or str(issue.get("key", "")).split("-")[0]
        if mapper.scopes and project.lower() not in mapper.scopes:
            project = self.configured_key(project, str((fields.get("project") or {}).get("id") or ""))
        assignee = fields.get("assignee") or {}
        values = {
            "kind": mapper.kind(issuetype.get("name") or "", labels, default_kind),
            "title": fields.get("summary") or issue.get("key") or "",
            "description": self.description_text(fields),
            "status": status.get("name") or "",
            "status_category": category,
            "labels": labels,
            "components": components,
            "target_date": target,
            "url": f"{self.base_url}/browse/{issue.get('key')}",
            "assignee": assignee.get("displayName") or assignee.get("name") or "",
            "updated_at_source": parse_dt(fields.get("updated")),
            "created_at_source": parse_dt(fields.get("created")),
            "estimate_points": parse_points(fields.get(str(self.clean.get("story_points_field") or ""))),
            "done_at": parse_dt(fields.get("resolutiondate")),
        }
        record = builder.item(issue_id, values, mapper.placement(project, labels, components))
        links = [self.parent_link(issue, builder), *self.issue_links(issue_id, fields)]
        return record, links

    def issue_links(self, issue_id: str, fields: dict[str, Any]) -> list[Link]:
        """Blocks / relates links from both directions, normalised so `from` is the blocker."""
        out: list[Link] = []
        for link in fields.get("issuelinks") or []:
            name = ((link.get("type") or {}).get("name") or "").lower()
            kind = "blocks" if name == BLOCKS else "relates" if name in RELATES else None
            if kind is None:
                continue
            if link.get("outwardIssue"):
                out.append(Link(kind, issue_id, str(link["outwardIssue"]["id"])))
            elif link.get("inwardIssue"):
                out.append(Link(kind, str(link["inwardIssue"]["id"]), issue_id))
        return out


@register
class JiraCloudConnector(JiraBase):
    kind = "jira_cloud"
    label = "Jira Cloud"
    description = (
        "Epics, stories and their links from Jira Cloud projects: hierarchy, status category, labels, "
        "components, fix-version or due dates, and blocks / is blocked by dependencies."
    )
    docs_url = "https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/"
    config_form = JiraCloudConfigForm
    secret_fields = ("api_token", "hook_secret")

    def auth_headers(self) -> dict[str, str]:
        token = self.secrets.get("api_token", "")
        raw = f"{self.config.get('email', '')}:{token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
