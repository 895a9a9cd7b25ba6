"""Dovetail: research projects as studies, their notes, and the highlights (with tags) taken from them.

API (developers.dovetail.com/reference): base ``https://dovetail.com/api/v1``, a Bearer API key.
  GET /projects                  the workspace's projects: ``{"data": [{"id", "title", "author": {"id",
                                 "name"}, "created_at", "deleted", "folder": {"id"}}], "page": {...}}``
  GET /notes?filter[project_id]=  a project's notes: ``id``, ``title``, ``project``, ``fields`` (label,
                                 value, type), ``created_at``, ``deleted``
  GET /highlights?filter[project_id]=  a project's highlights: ``id``, ``note_id``, ``text``, ``tags``
                                 (``[{"id", "title"}]``), ``created_at``, ``updated_at``
Lists are cursor-paginated (``page[limit]`` ≤ 100, ``page[start_cursor]`` = the previous
``page.next_cursor`` while ``page.has_more``), filtered deepObject-style (``filter[created_at][gt]=``)
and sorted with ``sort=created_at:asc``. Errors are ``{"errors": [{"code", "title", "message"}]}``.
Tags come embedded in each highlight, so no call to /tags is needed.

Incremental: the project list has no date filter and is small, so it is re-read each sync (unchanged
studies are not rewritten). For each project the sync asks only for notes created and highlights
updated since the newest seen by the last sync (``gte``, so a highlight edited in the same second as the
last one is re-read; the upsert leaves it unchanged). The cursor is ``{"since", "high", "after"}``:
the filter's lower bound, the newest timestamp seen, and the project page to resume at.

Rate limits: 200 requests a minute per workspace; a 429 carries ``Retry-After`` (seconds), and every
answer ``X-RateLimit-Reset`` (a Unix timestamp), which the HTTP client waits for. A sync costs one
request per 100 projects plus two per project (more for a project with over 100 new notes or
highlights), so a workspace of up to ~90 projects syncs within one minute's budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product

BASE = "https://dovetail.com/api/v1"
STREAM = "projects"
PAGE_SIZE = 100


class DovetailConfigForm(forms.Form):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Dovetail > Settings > Account > Personal API keys > Create new key (read access is enough). "
            "Stored encrypted; leave blank to keep the stored one."
        ),
    )
    start_date = forms.DateField(
        required=False,
        help_text="The first sync reads notes and highlights from this day (UTC); blank reads everything.",
    )
    folder_id = forms.CharField(
        max_length=100,
        required=False,
        help_text="Only the projects in this Dovetail folder (its id from the folder's URL); blank: all.",
    )
    segment_field = forms.CharField(
        max_length=100,
        initial="Segment",
        required=False,
        help_text="The note field holding the participant's segment or plan, e.g. Segment or Plan.",
    )
    project_map = ProductMapField(
        help_text=(
            'Dovetail project id or title -> product slug, e.g. {"Onboarding interviews": "billing-app"}. '
            "Projects not listed get the connection's product and team."
        )
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@register
class DovetailConnector(Connector):
    kind = "dovetail"
    label = "Dovetail"
    family = "research"
    description = (
        "Research projects as studies, with their notes and highlights (quote, tags, the participant's "
        "segment). Highlights join the feedback themes and sentiment as source “research”."
    )
    docs_url = "https://developers.dovetail.com/docs/introduction"
    config_form = DovetailConfigForm
    secret_fields = ("api_key",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("X-RateLimit-Reset",))
        return self._client

    def _headers(self) -> dict[str, str]:
        key = self.secrets.get("api_key", "")
        if not key:
            raise ConnectorError(
                "No Dovetail API key is stored. Paste one in the connection's settings.", permanent=True
            )
        return {"Authorization": f"Bearer {key}", "Accept": "application/json"}

    def _list(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """One list endpoint, page after page, until `page.has_more` is false."""
        start: str | None = None
        while True:
            query = {**params, "page[limit]": PAGE_SIZE}
            if start:
                query["page[start_cursor]"] = start
            payload = self._get(path, query)
            yield from payload["data"]
            following = (payload.get("page") or {}).get("next_cursor")
            if not (payload.get("page") or {}).get("has_more") or not following or following == start:
                return
            start = following

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        payload = self.client.request(
            "GET", f"{BASE}{path}", params=params, headers=self._headers(), expect_json=True
        ).json()
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise ConnectorError(f"Dovetail sent a {path} page without a data list.")
        return payload

    def check(self) -> CheckResult:
        try:
            payload = self._get("/projects", {"page[limit]": 1})
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        total = (payload.get("page") or {}).get("total_count")
        seen = f"{total} projects" if isinstance(total, int) else "your projects"
        return CheckResult(True, f"Connected to Dovetail; the key can read {seen}.")

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: Any) -> Any:
        return {"since": _iso(datetime(since.year, since.month, since.day, tzinfo=UTC))}

    def _start(self) -> str | None:
        start = self.config.get("start_date")
        if not start:
            return None
        day = datetime.fromisoformat(str(start)).replace(tzinfo=UTC)
        return _iso(day)

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("project_map"))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        since: str | None = state.get("since") or self._start()
        high: str | None = state.get("high") or since
        after: str | None = state.get("after")
        project_params: dict[str, Any] = {"sort": "created_at:asc", "page[limit]": PAGE_SIZE}
        if folder := str(self.config.get("folder_id") or "").strip():
            project_params["filter[folder_id]"] = folder
        while True:
            if after:
                project_params["page[start_cursor]"] = after
            payload = self._get("/projects", project_params)
            records = []
            for project in payload["data"]:
                if project.get("deleted"):
                    continue
                record, newest = self._project(project, since, products)
                records.append(record)
                if newest and (high is None or newest > high):
                    high = newest
            page = payload.get("page") or {}
            following = page.get("next_cursor")
            if page.get("has_more") and following and following != after:
                yield Page(records, {"since": since, "high": high, "after": following})
                after = following
                continue
            # Done: the next sync asks each project only for what is newer than the newest seen.
            yield Page(records, {"since": high}, done=True)
            return

    def _project(
        self, project: dict[str, Any], since: str | None, products: dict[str, int]
    ) -> tuple[Record, str | None]:
        pid = str(project["id"])
        newest: str | None = None
        note_params: dict[str, Any] = {"filter[project_id]": pid, "sort": "created_at:asc"}
        highlight_params: dict[str, Any] = {"filter[project_id]": pid, "sort": "created_at:asc"}
        if since:
            note_params["filter[created_at][gt]"] = since
            highlight_params["filter[updated_at][gte]"] = since
        segment_label = str(self.config.get("segment_field") or "Segment").strip().lower()
        notes, segments = [], {}
        for note in self._list("/notes", note_params):
            if note.get("deleted"):
                continue
            segment = next(
                (
                    str(f.get("value") or "")
                    for f in note.get("fields") or []
                    if str(f.get("label") or "").strip().lower() == segment_label
                ),
                "",
            )
            segments[str(note["id"])] = segment
            notes.append(
                {
                    "external_id": str(note["id"]),
                    "title": str(note.get("title") or "")[:300],
                    "text": str(note.get("content") or ""),
                    "segment": segment[:200],
                    "created_at": utc(note.get("created_at")),
                }
            )
            newest = max(newest or "", str(note.get("created_at") or "")) or None
        highlights = []
        for hl in self._list("/highlights", highlight_params):
            text = str(hl.get("text") or "").strip()
            if not text:
                continue
            row: dict[str, Any] = {
                "external_id": str(hl["id"]),
                "note_ref": str(hl.get("note_id") or ""),
                "quote": text,
                "tags": [str(t["title"]) for t in hl.get("tags") or [] if t.get("title")],
                "created_at": utc(hl.get("created_at")),
            }
            if row["note_ref"] in segments:  # the note came in this sync: its segment is known
                row["segment"] = segments[row["note_ref"]][:200]
            highlights.append(row)
            newest = max(newest or "", str(hl.get("updated_at") or hl.get("created_at") or "")) or None
        created = utc(project.get("created_at"))
        values: dict[str, Any] = {
            "title": str(project.get("title") or "Untitled project")[:300],
            "started_on": created.date() if created else None,
            "owner_name": str((project.get("author") or {}).get("name") or "")[:200],
        }
        product = products.get(pid) or products.get(str(project.get("title") or ""))
        record = Record(
            "research.Study",
            pid,
            with_product(values, product),
            children=[
                ("research.StudyNote", notes, "study_id"),
                ("research.Highlight", highlights, "study_id"),
            ],
        )
        return record, newest
