"""GitLab (gitlab.com or self-managed): group epics and the issues of groups or projects.

Endpoints (REST v4, https://docs.gitlab.com/api/issues/ and https://docs.gitlab.com/api/epics/):
- GET /api/v4/user: the check;
- GET /api/v4/groups/:id/epics and GET /api/v4/groups/:id/issues or /projects/:id/issues, with
  updated_after, order_by=updated_at, sort=asc, per_page=100 and scope=all (issues), following the
  Link rel="next" header that both offset and keyset pagination send.

Scopes are named "group:<full path>" or "project:<full path>" (or project:<numeric id>). An issue is
placed by its project's scope first, then its group's (and parent groups'); without `references`
(GitLab before 12.6) or under a path renamed since it was configured, by the scope being listed and
the numeric project_id (see issue_scopes). Epics are read first, so an issue's `epic` (and an
epic's `parent_id`) resolves as its parent. Status: closed -> done; open with an "in progress" label
(e.g. workflow::in progress) -> in_progress; else todo. Target date: the due date, else the milestone's.
An issue moved to another project (moved_to_id set) is marked gone; deleted ones leave the listing
and the periodic "inventory" stream marks them gone. Rate limits: 429 with Retry-After and
RateLimit-Reset, waited out by the HTTP client. Epics need GitLab Premium; without it the epics
endpoint answers 403/404 and the connector skips epics with a log note.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cached_property
from typing import Any
from urllib.parse import quote

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Link, Page, Record, register
from connectors.http import HttpClient, paginate_link
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

log = logging.getLogger(__name__)
DEFAULT_BASE = "https://gitlab.com"


class GitLabConfigForm(TrackerMappingForm):
    base_url = forms.URLField(
        assume_scheme="https",
        initial=DEFAULT_BASE,
        required=False,
        help_text="https://gitlab.com, or your self-managed GitLab's URL.",
    )
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="A personal, group or project access token with the read_api scope (User settings > "
        "Access tokens, https://gitlab.com/-/user_settings/personal_access_tokens). Stored encrypted; "
        "leave blank to keep the old one.",
    )
    read_epics = forms.BooleanField(
        required=False, initial=True, help_text="Read group epics (GitLab Premium)."
    )
    field_order = ["base_url", "token", "scopes", "read_epics"]
    scopes_example = '{"group:acme": {"team": "payments", "product": "checkout"}, "project:acme/app": {}}'
    scopes_help = (
        "The groups (group:<path>) and projects (project:<path> or project:<id>) to read, each with the "
        "slug (or name) of an existing team and product; {} keeps the connection's own. An issue takes its "
        "project's mapping first, then its group's. At least one."
    )

    def clean_scopes(self) -> dict[str, Any]:
        scopes = super().clean_scopes()
        bad = [s for s in scopes if not (s.startswith("group:") or s.startswith("project:"))]
        if bad:
            raise forms.ValidationError(
                f"Name each scope group:<path> or project:<path>, e.g. group:acme or project:acme/app ({', '.join(bad)})."
            )
        return scopes


def issue_scopes(issue: dict[str, Any], listed: str = "") -> list[str]:
    """Scopes an issue can map to, most specific first.

    `references.full` ("group/sub/project#iid") names its project and groups, but older GitLab
    versions (before 12.6) send no `references`, and a project renamed or transferred since it was
    configured names a path the mapping doesn't know. So the order is: the project by its path now;
    the project scope being listed (that is the issue's project, whatever its path became); the project
    by numeric id (a scope may be configured as project:<id>); the groups by path now; and last the
    group scope being listed.
    """
    full = ((issue.get("references") or {}).get("full") or "").split("#")[0]
    parts = full.split("/") if full else []
    out = [f"project:{full}"] if full else []
    if listed.startswith("project:"):
        out.append(listed)
    if issue.get("project_id") is not None:
        out.append(f"project:{issue['project_id']}")
    out += [f"group:{'/'.join(parts[:n])}" for n in range(len(parts) - 1, 0, -1)]
    if listed.startswith("group:"):
        out.append(listed)
    return out


def epic_scopes(epic: dict[str, Any], listed: str = "") -> list[str]:
    """An epic's group and its parents by `references.full` ("group/sub&iid"), then the group being
    listed (older GitLab sends no `references`; a renamed group names a path the mapping doesn't know),
    then the group by numeric id."""
    full = ((epic.get("references") or {}).get("full") or "").split("&")[0]
    parts = full.split("/") if full else []
    out = [f"group:{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    if listed:
        out.append(listed)
    if epic.get("group_id") is not None:
        out.append(f"group:{epic['group_id']}")
    return out


@register
class GitLabConnector(Connector):
    kind = "gitlab"
    label = "GitLab"
    family = "portfolio"
    description = (
        "Group epics and issues from GitLab.com or a self-managed GitLab: labels, milestones and due dates, "
        "assignees, and epic > issue links as the hierarchy."
    )
    docs_url = "https://docs.gitlab.com/api/issues/"
    config_form = GitLabConfigForm
    secret_fields = ("token", "hook_secret")
    sleep: Any = None  # tests inject a no-op sleep for the HTTP client's waits

    @cached_property
    def clean(self) -> dict[str, Any]:
        """The config as its form cleans it, once per connector instance."""
        return form_config(self.config_form, self.config)

    @property
    def api(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE).rstrip("/") + "/api/v4"

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            kwargs: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
            self._client = HttpClient(
                headers={"PRIVATE-TOKEN": self.secrets.get("token", "")},
                secret_headers=("PRIVATE-TOKEN",),
                reset_headers=("RateLimit-Reset",),
                **kwargs,
            )
        return self._client

    @property
    def read_epics(self) -> bool:
        # A config saved without the box (older connections, the API) reads epics: the form's default.
        return bool(self.config.get("read_epics", True))

    def scopes(self, kind: str) -> list[str]:
        return sorted(s.split(":", 1)[1] for s in self.clean["scopes"] if s.startswith(f"{kind}:"))

    def url(self, kind: str, path: str, suffix: str) -> str:
        return f"{self.api}/{kind}s/{quote(path, safe='')}/{suffix}"

    # -- the interface

    def check(self) -> CheckResult:
        try:
            me = self.client.get_json(f"{self.api}/user")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(
            True,
            f"Connected to {self.api.removesuffix('/api/v4')} as {me.get('username', 'the token user')}.",
        )

    def streams(self) -> list[str]:
        return ["epics", "items", "inventory"]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        cfg = self.clean
        if stream == "inventory":
            yield from inventory_pages(cursor, cfg.get("gone_check_hours"), self._list_ids)
            return
        if stream == "epics":
            sources = [("group", g) for g in self.scopes("group")] if self.read_epics else []
        else:
            sources = [("group", g) for g in self.scopes("group")] + [
                ("project", p) for p in self.scopes("project")
            ]
        state: dict[str, Any] = dict((cursor or {}).get("scopes", {})) if isinstance(cursor, dict) else {}
        mapper = Mapper(cfg)
        builder = ItemBuilder("gitlab")
        if not sources:
            yield Page([], cursor, done=True)
            return
        for n, (kind, path) in enumerate(sources):
            key = f"{kind}:{path}"
            # A backfill cursor ({"since": date}, Connector.cursor_for_date) applies to every scope.
            backfill = cursor.get("since") if isinstance(cursor, dict) else None
            progress = dict(state.get(key) or ({"since": backfill} if backfill else {}))
            params: dict[str, Any] = {"order_by": "updated_at", "sort": "asc", "per_page": 100}
            if stream == "items":
                params.update(scope="all", state="all")
            if progress.get("since"):
                params["updated_after"] = progress["since"]
            newest = parse_dt(progress.get("since"))
            url = self.url(kind, path, "epics" if stream == "epics" else "issues")
            try:
                for payload, following in paginate_link(
                    self.client, url, params=params, start=progress.get("next")
                ):
                    records: list[Record] = []
                    links: list[Link] = []
                    for raw in payload if isinstance(payload, list) else []:
                        record, link = (self.map_epic if stream == "epics" else self.map_issue)(
                            raw, mapper, builder, key
                        )
                        records.append(record)
                        links.append(link)
                        updated = record.values["updated_at_source"]
                        if updated and (newest is None or updated > newest):
                            newest = updated
                    state[key] = {
                        "since": iso(newest) if newest else progress.get("since"),
                        "next": following,
                    }
                    done = following is None and n == len(sources) - 1
                    if done:
                        links.extend(builder.all_parents())
                    yield Page(records, {"scopes": {**state}}, done=done, links=links)
            except ConnectorError as exc:
                if stream != "epics" or not exc.permanent or "HTTP 401" in exc.message:
                    raise
                # 403/404 on epics: the group has no Premium epics (or they are off); issues still sync.
                log.warning("gitlab: epics of %s skipped: %s", path, exc.message)
                if n == len(sources) - 1:
                    yield Page([], {"scopes": {**state}}, done=True, links=builder.all_parents())

    # -- mapping

    def _common(self, raw: dict[str, Any], mapper: Mapper, labels: list[str]) -> dict[str, Any]:
        is_open = raw.get("state") == "opened"
        return {
            "title": raw.get("title") or "",
            "description": raw.get("description") or "",
            "status": raw.get("state") or "",
            "status_category": mapper.open_closed_status(is_open, labels),
            "labels": labels,
            "url": raw.get("web_url") or "",
            "updated_at_source": parse_dt(raw.get("updated_at")),
            "created_at_source": parse_dt(raw.get("created_at")),
            "done_at": parse_dt(raw.get("closed_at")),
        }

    def _placement(self, mapper: Mapper, scopes: list[str], labels: list[str]) -> dict[str, Any]:
        for scope in scopes:
            if scope.lower() in mapper.scopes:
                return mapper.placement(scope, labels)
        return mapper.placement("", labels)

    def map_epic(
        self, epic: dict[str, Any], mapper: Mapper, builder: ItemBuilder, listed: str = ""
    ) -> tuple[Record, Link]:
        labels = [str(x) for x in epic.get("labels") or []]
        values = {
            **self._common(epic, mapper, labels),
            "kind": mapper.kind("epic", labels, "epic"),
            "start_date": parse_date(epic.get("start_date")),
            "target_date": parse_date(epic.get("due_date") or epic.get("end_date")),
        }
        external_id = f"epic:{epic['id']}"
        record = builder.item(external_id, values, self._placement(mapper, epic_scopes(epic, listed), labels))
        parent = epic.get("parent_id")
        return record, builder.parent(external_id, f"epic:{parent}" if parent else None)

    def map_issue(
        self, issue: dict[str, Any], mapper: Mapper, builder: ItemBuilder, listed: str = ""
    ) -> tuple[Record, Link]:
        labels = [str(x) for x in issue.get("labels") or []]
        milestone = issue.get("milestone") or {}
        assignees = [a.get("username", "") for a in issue.get("assignees") or [] if isinstance(a, dict)]
        values = {
            **self._common(issue, mapper, labels),
            "kind": mapper.kind(issue.get("issue_type") or issue.get("type") or "", labels, "story"),
            "start_date": parse_date(milestone.get("start_date")),
            "target_date": parse_date(issue.get("due_date")) or parse_date(milestone.get("due_date")),
            "assignee": ", ".join(a for a in assignees if a),
            "estimate_points": parse_points(issue.get("weight")),  # GitLab's issue weight
        }
        external_id = f"issue:{issue['id']}"
        record = builder.item(
            external_id, values, self._placement(mapper, issue_scopes(issue, listed), labels)
        )
        if issue.get("moved_to_id"):
            # Moved to another project: GitLab keeps the old issue closed; the new one is a new item.
            record.values.update(is_gone=True, gone_at=record.values["updated_at_source"])
        epic = issue.get("epic") or {}
        epic_id = epic.get("id") if isinstance(epic, dict) else None
        return record, builder.parent(external_id, f"epic:{epic_id}" if epic_id else None)

    def _list_ids(self) -> Iterator[list[str]]:
        if self.read_epics:
            for group in self.scopes("group"):
                try:
                    for payload, _f in paginate_link(
                        self.client, self.url("group", group, "epics"), params={"per_page": 100}
                    ):
                        yield [f"epic:{e['id']}" for e in payload]
                except ConnectorError as exc:
                    if not exc.permanent or "HTTP 401" in exc.message:
                        raise
                    log.warning("gitlab: epics of %s not listed: %s", group, exc.message)
        for kind in ("group", "project"):
            for path in self.scopes(kind):
                params = {"scope": "all", "state": "all", "per_page": 100}
                for payload, _f in paginate_link(self.client, self.url(kind, path, "issues"), params=params):
                    yield [f"issue:{i['id']}" for i in payload if not i.get("moved_to_id")]
