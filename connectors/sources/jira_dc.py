"""Jira Data Center / Server: the same mapping as Jira Cloud over REST v2 with a personal access token.

Endpoints (https://docs.atlassian.com/software/jira/docs/api/REST/latest/):
- GET /rest/api/2/myself: the check, and the user's time zone for JQL dates;
- GET /rest/api/2/search with jql, fields, startAt and maxResults; the page is the last when
  startAt + len(issues) reaches total (or the page is short or empty).

Data Center has no unified parent field for stories: a story's epic is the "Epic Link" custom field
(its id differs per instance, customfield_10008 by default here) and holds the epic's key, so the
link resolves by the epic's URL (<base>/browse/<key>). Sub-tasks keep the parent field.

Auth: ``Authorization: Bearer <personal access token>`` (Jira 8.14+). These servers usually sit on a
private network: the SSRF guard refuses private addresses unless the operator lists the network in
CONNECTOR_ALLOWED_NETWORKS (e.g. 10.0.0.0/8).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms

from connectors.base import Link, register
from connectors.sources.jira_cloud import FIELDS, JiraBase, JiraCloudConfigForm, story_points_field
from connectors.sources.tracker_mapping import ItemBuilder, TrackerMappingForm

PAGE_SIZE = 100


class JiraDataCenterConfigForm(TrackerMappingForm):
    base_url = forms.URLField(
        assume_scheme="https",
        help_text="Your Jira's base URL, e.g. https://jira.internal.example. A private address also needs "
        "its network in CONNECTOR_ALLOWED_NETWORKS (ask whoever runs productops).",
    )
    personal_access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Create one in Jira under your avatar > Profile > Personal Access Tokens "
        "(https://confluence.atlassian.com/enterprise/using-personal-access-tokens-1026032365.html). "
        "Stored encrypted; leave blank to keep the old one.",
    )
    epic_link_field = forms.CharField(
        required=False,
        initial="customfield_10008",
        max_length=50,
        help_text='The id of the "Epic Link" custom field on your instance (see /rest/api/2/field).',
    )
    extra_jql = forms.CharField(required=False, max_length=500, help_text="Optional JQL ANDed to the query.")
    story_points_field = story_points_field()
    field_order = [
        "base_url",
        "personal_access_token",
        "scopes",
        "epic_link_field",
        "story_points_field",
        "extra_jql",
    ]
    scopes_required = False
    scopes_example = JiraCloudConfigForm.scopes_example
    scopes_help = JiraCloudConfigForm.scopes_help


@register
class JiraDataCenterConnector(JiraBase):
    kind = "jira_dc"
    label = "Jira Data Center / Server"
    description = (
        "Epics, stories and their links from a self-hosted Jira (Data Center or Server) over REST v2 with a "
        "personal access token: hierarchy, status category, labels, components, dates and dependencies."
    )
    docs_url = "https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/search"
    config_form = JiraDataCenterConfigForm
    secret_fields = ("personal_access_token", "hook_secret")
    api = "2"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets.get('personal_access_token', '')}"}

    @property
    def epic_field(self) -> str:
        return str(self.clean.get("epic_link_field") or "customfield_10008")

    def search(self, jql: str, fields: list[str]) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        wanted = fields if fields == ["id"] else [*fields, self.epic_field]
        start = 0
        while True:
            params = {"jql": jql, "fields": ",".join(wanted), "startAt": start, "maxResults": PAGE_SIZE}
            payload = self.client.get_json(self.url("search"), params=params)
            issues = list(payload.get("issues") or [])
            total = int(payload.get("total") or 0)
            # The server may cap maxResults below what was asked; advance by what came back.
            start = int(payload.get("startAt") or start) + len(issues)
            last = not issues or start >= total
            yield issues, last
            if last:
                return

    def description_text(self, fields: dict[str, Any]) -> str:
        value = fields.get("description")
        return value if isinstance(value, str) else ""

    def parent_link(self, issue: dict[str, Any], builder: ItemBuilder) -> Link:
        fields = issue.get("fields") or {}
        parent = fields.get("parent")
        if parent and parent.get("id"):
            return builder.parent(str(issue["id"]), str(parent["id"]))
        epic_key = fields.get(self.epic_field)
        if isinstance(epic_key, str) and epic_key:
            return builder.parent(str(issue["id"]), f"{self.base_url}/browse/{epic_key}", by="url")
        return builder.parent(str(issue["id"]), None)


__all__ = ["FIELDS", "JiraDataCenterConnector"]
