"""JSON or CSV over HTTP: any endpoint that lists records, mapped field by field into one family.

The user gives a URL, an optional auth header (the value is a secret), where the records sit in the
response (a dotted path such as ``data.items``; empty for a top-level list), a mapping of our field
names to dotted paths inside each record, and how the endpoint pages:

- ``none``: one request;
- ``link``: follow ``Link: <...>; rel="next"`` headers;
- ``cursor``: a field in the body (``meta.next_cursor``) sent back as a query parameter;
- ``offset``: ``offset``/``limit`` parameters;
- ``page``: ``page``/``per_page`` parameters.

The cursor saved after each page is where to resume; after the last page it resets to None, so the
next sync re-reads the source and the upsert leaves unchanged rows alone.

Standards it follows rather than a vendor's docs: JSON (https://www.rfc-editor.org/rfc/rfc8259), the
Link header (https://www.rfc-editor.org/rfc/rfc8288) and CSV (https://www.rfc-editor.org/rfc/rfc4180).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import urlsplit

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, register
from connectors.family_schemas import FAMILY_CHOICES, SCHEMAS, RecordError, coerce_record, to_records
from connectors.http import (
    HttpClient,
    get_path,
    paginate_cursor,
    paginate_link,
    paginate_offset,
    paginate_page,
    records_at,
)

PAGINATION_CHOICES = [
    ("none", "None (one request)"),
    ("link", "Link header (rel=next)"),
    ("cursor", "Cursor field in the body"),
    ("offset", "Offset and limit"),
    ("page", "Page number"),
]
STREAM = "records"


class HttpJsonConfigForm(forms.Form):
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        help_text="The endpoint that lists the records, e.g. https://tool.example.com/api/v1/tickets",
    )
    format = forms.ChoiceField(choices=[("json", "JSON"), ("csv", "CSV")], initial="json")
    family = forms.ChoiceField(choices=FAMILY_CHOICES, help_text="What each record is.")
    auth_header_name = forms.CharField(
        max_length=100, required=False, initial="Authorization", help_text="e.g. Authorization, X-Api-Key"
    )
    auth_header_value = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            'The header\'s value, e.g. "Bearer <token>". Stored encrypted; leave blank to keep the old one.'
        ),
    )
    records_path = forms.CharField(
        max_length=200,
        required=False,
        help_text="Dotted path to the list of records, e.g. data.items (blank: top level)",
    )
    mapping = forms.JSONField(
        help_text=(
            'Our field -> dotted path in a record, e.g. {"id": "id", "subject": "fields.title"}. '
            '"id" is required.'
        )
    )
    pagination = forms.ChoiceField(choices=PAGINATION_CHOICES, initial="none")
    cursor_path = forms.CharField(
        max_length=200, required=False, help_text="For cursor paging, e.g. meta.next_cursor"
    )
    cursor_param = forms.CharField(max_length=50, required=False, initial="cursor")
    has_more_path = forms.CharField(
        max_length=200,
        required=False,
        help_text="For cursor paging, e.g. meta.has_more (blank: stop when no cursor)",
    )
    page_size = forms.IntegerField(min_value=1, max_value=10000, initial=100, required=False)
    page_param = forms.CharField(max_length=50, required=False, initial="page")
    size_param = forms.CharField(max_length=50, required=False, initial="per_page")
    offset_param = forms.CharField(max_length=50, required=False, initial="offset")
    limit_param = forms.CharField(max_length=50, required=False, initial="limit")

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if urlsplit(url).scheme not in ("http", "https"):
            raise forms.ValidationError("Use an http or https URL.")
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        mapping = data.get("mapping")
        family = data.get("family")
        if mapping is not None:
            if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                self.add_error("mapping", "Give an object of field name -> dotted path (strings).")
            elif family in SCHEMAS:
                problems = mapping_problems(family, mapping)
                if problems:
                    self.add_error("mapping", " ".join(problems))
        if data.get("pagination") == "cursor" and not data.get("cursor_path"):
            self.add_error("cursor_path", "Cursor paging needs the path of the next cursor in the body.")
        if data.get("format") == "csv" and data.get("pagination") not in (None, "none"):
            self.add_error("pagination", "CSV endpoints are read in one request.")
        return data


def mapping_problems(family: str, mapping: dict[str, Any]) -> list[str]:
    schema = SCHEMAS[family]
    unknown = sorted(set(mapping) - set(schema.fields))
    missing = sorted(n for n, spec in schema.fields.items() if spec.required and n not in mapping)
    problems = []
    if unknown:
        problems.append(
            f"Unknown field(s) for {family}: {', '.join(unknown)} (known: {', '.join(schema.fields)})."
        )
    if missing:
        problems.append(f"Map the required field(s): {', '.join(missing)}.")
    return problems


@register
class HttpJsonConnector(Connector):
    kind = "http_json"
    label = "JSON or CSV over HTTP"
    family = "generic"  # chosen per connection in config["family"]
    description = "Read records from any HTTP endpoint that returns JSON or CSV, with a field mapping."
    config_form = HttpJsonConfigForm
    secret_fields = ("auth_header_value",)

    # -- the interface

    def check(self) -> CheckResult:
        try:
            self._validate_config()
            pages = self._pages(None)
            payload, _state = next(pages)
            raw = self._records(payload)
            pages.close()
            if not raw:
                return CheckResult(
                    True, "Connected, but the first page holds no records. Check the records path."
                )
            self._map(raw[0], "the first record")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(
            True, f"Connected: the first page holds {len(raw)} record(s) and the first one maps."
        )

    def streams(self) -> list[str]:
        return [STREAM]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        self._validate_config()
        family = self.config["family"]
        start = cursor.get("next") if isinstance(cursor, dict) else None
        for number, (payload, following) in enumerate(self._pages(start), start=1):
            rows = [
                self._map(raw, f"page {number}, record {i}") for i, raw in enumerate(self._records(payload))
            ]
            done = following is None
            yield Page(
                records=to_records(family, rows), cursor=None if done else {"next": following}, done=done
            )

    # -- helpers

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            name = (self.config.get("auth_header_name") or "").strip()
            value = self.secrets.get("auth_header_value", "")
            headers = {name: value} if name and value else {}
            accept = "text/csv, */*;q=0.5" if self.config.get("format") == "csv" else "application/json"
            self._client = HttpClient(
                headers={"Accept": accept, **headers},
                secret_headers=tuple(headers) or ("Authorization",),
                reset_headers=("X-RateLimit-Reset", "RateLimit-Reset"),
            )
        return self._client

    def _validate_config(self) -> None:
        form = self.config_form(data={**self.config, "mapping": json.dumps(self.config.get("mapping", {}))})
        if not form.is_valid():
            problems = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
            raise ConnectorError(f"The connection's settings are incomplete: {problems}", permanent=True)

    def _pages(self, start: Any) -> Generator[tuple[Any, Any], None, None]:
        url = self.config["url"]
        style = self.config.get("pagination", "none")
        size = int(self.config.get("page_size") or 100)
        path = self.config.get("records_path", "")
        if self.config.get("format") == "csv":
            response = self.client.request("GET", url)
            yield _parse_csv(response.content), None
            return
        if style == "none":
            yield self.client.get_json(url), None
        elif style == "link":
            yield from paginate_link(self.client, url, start=start)
        elif style == "cursor":
            yield from paginate_cursor(
                self.client,
                url,
                cursor_path=self.config["cursor_path"],
                cursor_param=self.config.get("cursor_param") or "cursor",
                start=start,
                has_more_path=self.config.get("has_more_path") or None,
            )
        elif style == "offset":
            yield from paginate_offset(
                self.client,
                url,
                records_path=path,
                limit=size,
                offset_param=self.config.get("offset_param") or "offset",
                limit_param=self.config.get("limit_param") or "limit",
                start=int(start or 0),
            )
        elif style == "page":
            yield from paginate_page(
                self.client,
                url,
                records_path=path,
                page_size=size,
                page_param=self.config.get("page_param") or "page",
                size_param=self.config.get("size_param") or None,
                start=int(start or 1),
            )
        else:
            raise ConnectorError(f"Unknown pagination style {style!r}.", permanent=True)

    def _records(self, payload: Any) -> list[Any]:
        if self.config.get("format") == "csv":
            return list(payload)
        return records_at(payload, self.config.get("records_path", ""))

    def _map(self, raw: Any, where: str) -> dict[str, Any]:
        mapping: dict[str, str] = self.config["mapping"]
        mapped = {field: get_path(raw, path) for field, path in mapping.items()}
        try:
            return coerce_record(self.config["family"], mapped, where=where)
        except RecordError as exc:
            raise ConnectorError(
                f"A record does not fit the mapping: {exc}. Fix the field mapping, or the data at the "
                f"source.",
                permanent=True,
            ) from None


def _parse_csv(content: bytes) -> list[dict[str, str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConnectorError("The CSV is not UTF-8 text. Export it as UTF-8.", permanent=True) from None
    return list(csv.DictReader(io.StringIO(text)))
