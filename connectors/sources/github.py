"""GitHub Issues: the issues of the configured repositories, with sub-issues as the hierarchy.

Endpoints (REST, API version 2022-11-28, https://docs.github.com/en/rest/issues):
- GET /repos/{owner}/{repo}: the check (one cheap authenticated call on the first repository);
- GET /repos/{owner}/{repo}/issues with state=all, since=, sort=updated, direction=asc, per_page=100,
  following Link rel="next". Pull requests come back from this endpoint too; they carry a
  `pull_request` object with a non-null `html_url`/`url` and are dropped (older API shapes put a
  `pull_request` object of nulls on plain issues: those are issues);
- GET /repos/{owner}/{repo}/issues/{number}/sub_issues for issues whose sub_issues_summary says they
  have children: each child's parent link.

Status: closed -> done; open with an "in progress" label -> in_progress; else todo. Milestone due_on
is the target date. Kind: the issue type (organisation issue types) or a label through the kind map;
an issue with sub-issues is an epic by default. Rate limits: the primary limit's
X-RateLimit-Remaining: 0 with X-RateLimit-Reset (epoch seconds), and secondary limits (403 or 429 with
retry-after) are waited out by the HTTP client. Transferred or deleted issues leave the listing; the
periodic "inventory" stream marks them gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any
from urllib.parse import quote

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Link, Page, Record, register
from connectors.http import HttpClient, RetryPolicy, paginate_link
from connectors.sources.tracker_mapping import (
    ItemBuilder,
    Mapper,
    TrackerMappingForm,
    form_config,
    inventory_pages,
    iso,
    parse_date,
    parse_dt,
)

DEFAULT_API = "https://api.github.com"
DEFAULT_TYPE_KINDS = {"initiative": "initiative", "epic": "epic"}


def is_pull_request(issue: dict[str, Any]) -> bool:
    """A pull request carries a `pull_request` object with its URLs. Older API versions put
    `"pull_request": {"html_url": null, "diff_url": null, "patch_url": null}` on every plain issue,
    so the key alone proves nothing: only a non-null `html_url` (or `url`) makes it a PR."""
    pr = issue.get("pull_request")
    return isinstance(pr, dict) and bool(pr.get("html_url") or pr.get("url"))


class GitHubConfigForm(TrackerMappingForm):
    api_url = forms.URLField(
        assume_scheme="https",
        initial=DEFAULT_API,
        required=False,
        help_text="https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server.",
    )
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="A fine-grained personal access token with read access to Issues, from "
        "https://github.com/settings/personal-access-tokens. Stored encrypted; leave blank to keep the old one.",
    )
    field_order = ["api_url", "token", "scopes"]
    scopes_example = '{"acme/app": {"team": "payments", "product": "checkout"}, "acme/docs": {}}'
    scopes_help = (
        "The repositories to read (owner/repo), each with the slug (or name) of an existing team and "
        "product; {} for a repository keeps the connection's own. At least one."
    )

    def clean_scopes(self) -> dict[str, Any]:
        scopes = super().clean_scopes()
        bad = [s for s in scopes if s.count("/") != 1]
        if bad:
            raise forms.ValidationError(f"Name repositories as owner/repo: {', '.join(bad)}.")
        return scopes


@register
class GitHubConnector(Connector):
    kind = "github"
    label = "GitHub Issues"
    family = "portfolio"
    description = (
        "Issues of the chosen repositories (pull requests left out): labels, milestones as target dates, "
        "assignees, and sub-issues as the epic/story hierarchy."
    )
    docs_url = "https://docs.github.com/en/rest/issues/issues#list-repository-issues"
    config_form = GitHubConfigForm
    secret_fields = ("token", "hook_secret")
    sleep: Any = None  # tests inject a no-op sleep for the HTTP client's waits

    @cached_property
    def clean(self) -> dict[str, Any]:
        """The config as its form cleans it, once per connector instance."""
        return form_config(self.config_form, self.config)

    @property
    def api(self) -> str:
        return str(self.config.get("api_url") or DEFAULT_API).rstrip("/")

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            kwargs: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
            self._client = HttpClient(
                headers={
                    "Authorization": f"Bearer {self.secrets.get('token', '')}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
                reset_headers=("X-RateLimit-Reset",),
                # GitHub: a secondary rate limit with no retry-after and no exhausted window means "wait
                # at least one minute" (docs.github.com/rest/using-the-rest-api/best-practices...).
                retry=RetryPolicy(rate_limit_floor=60.0),
                reset_only_when_exhausted=True,
                **kwargs,
            )
        return self._client

    def repos(self) -> list[str]:
        return sorted(self.clean["scopes"])

    def repo_url(self, repo: str, suffix: str = "") -> str:
        owner, name = repo.split("/")
        return f"{self.api}/repos/{quote(owner)}/{quote(name)}{suffix}"

    # -- the interface

    def check(self) -> CheckResult:
        try:
            repo = self.repos()[0]
            data = self.client.get_json(self.repo_url(repo))
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"Connected: can read {data.get('full_name', repo)}.")

    def streams(self) -> list[str]:
        return ["items", "inventory"]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        cfg = self.clean
        if stream == "inventory":
            yield from inventory_pages(cursor, cfg.get("gone_check_hours"), self._list_ids)
            return
        state: dict[str, dict[str, Any]] = (
            dict((cursor or {}).get("repos", {})) if isinstance(cursor, dict) else {}
        )
        mapper = Mapper(cfg)
        builder = ItemBuilder("github")
        repos = self.repos()
        for n, repo in enumerate(repos):
            # A backfill cursor ({"since": date}, Connector.cursor_for_date) applies to every repository.
            backfill = cursor.get("since") if isinstance(cursor, dict) else None
            progress = dict(state.get(repo) or ({"since": backfill} if backfill else {}))
            params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc", "per_page": 100}
            if progress.get("since"):
                params["since"] = progress["since"]
            newest = parse_dt(progress.get("since"))
            pages = paginate_link(
                self.client, self.repo_url(repo, "/issues"), params=params, start=progress.get("next")
            )
            for payload, following in pages:
                records: list[Record] = []
                links: list[Link] = []
                for issue in payload if isinstance(payload, list) else []:
                    if is_pull_request(issue):
                        continue
                    record = self.map_issue(repo, issue, mapper)
                    records.append(record)
                    links.extend(self.sub_issue_links(repo, issue, builder))
                    updated = record.values["updated_at_source"]
                    if updated and (newest is None or updated > newest):
                        newest = updated
                state[repo] = {"since": iso(newest) if newest else progress.get("since"), "next": following}
                done = following is None and n == len(repos) - 1
                if done:
                    links.extend(builder.all_parents())
                yield Page(records, {"repos": {**state}}, done=done, links=links)

    # -- mapping

    def map_issue(self, repo: str, issue: dict[str, Any], mapper: Mapper) -> Record:
        labels = [lbl["name"] if isinstance(lbl, dict) else str(lbl) for lbl in issue.get("labels") or []]
        type_name = (
            ((issue.get("type") or {}).get("name") or "") if isinstance(issue.get("type"), dict) else ""
        )
        has_children = ((issue.get("sub_issues_summary") or {}).get("total") or 0) > 0
        default = DEFAULT_TYPE_KINDS.get(type_name.lower(), "epic" if has_children else "story")
        milestone = issue.get("milestone") or {}
        assignees = [a.get("login", "") for a in issue.get("assignees") or [] if isinstance(a, dict)]
        if not assignees and isinstance(issue.get("assignee"), dict):
            assignees = [issue["assignee"].get("login", "")]
        is_open = issue.get("state") == "open"
        values = {
            "kind": mapper.kind(type_name, labels, default),
            "title": issue.get("title") or f"#{issue.get('number')}",
            "description": issue.get("body") or "",
            "status": issue.get("state_reason") or issue.get("state") or "",
            "status_category": mapper.open_closed_status(is_open, labels),
            "labels": labels,
            "target_date": parse_date(milestone.get("due_on")),
            "url": issue.get("html_url") or "",
            "assignee": ", ".join(a for a in assignees if a),
            "updated_at_source": parse_dt(issue.get("updated_at")),
            "created_at_source": parse_dt(issue.get("created_at")),
            "done_at": parse_dt(issue.get("closed_at")),
        }
        return ItemBuilder("github").item(str(issue["id"]), values, mapper.placement(repo, labels))

    def sub_issue_links(self, repo: str, issue: dict[str, Any], builder: ItemBuilder) -> list[Link]:
        """This issue's children, listed from its side, and a "children" link: the list is complete."""
        out = [Link("children", str(issue["id"]), None)]
        if ((issue.get("sub_issues_summary") or {}).get("total") or 0) <= 0:
            return out
        url = self.repo_url(repo, f"/issues/{issue['number']}/sub_issues")
        for payload, _following in paginate_link(self.client, url, params={"per_page": 100}):
            for child in payload if isinstance(payload, list) else []:
                out.append(builder.parent(str(child["id"]), str(issue["id"])))
        return out

    def _list_ids(self) -> Iterator[list[str]]:
        for repo in self.repos():
            params = {"state": "all", "per_page": 100}
            for payload, _following in paginate_link(
                self.client, self.repo_url(repo, "/issues"), params=params
            ):
                yield [str(i["id"]) for i in payload if isinstance(payload, list) and not is_pull_request(i)]
