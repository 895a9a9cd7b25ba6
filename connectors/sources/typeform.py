"""Typeform: NPS from one form's responses, reading the NPS or 0-10 opinion-scale field chosen in config.

API: GET https://api.typeform.com/forms/{form_id}/responses (Bearer personal access token, scope
responses:read; EU accounts use https://api.eu.typeform.com)
  - responses come newest first; ``page_size`` (max 1000) and ``before=<token of the last response
    on the page>`` walk backwards; a page shorter than page_size is the last;
  - ``since`` (ISO 8601, UTC, to the second, inclusive) limits a sync to new submissions: the cursor
    saved at the end is the newest ``submitted_at`` seen, and the next sync asks ``since`` one second
    later (responses can't be edited after submission, so nothing older can change);
  - 2 requests a second per token; a 429 is retried, honouring Retry-After when Typeform sends it.
Docs: https://www.typeform.com/developers/responses/reference/retrieve-responses/
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product
from productops.signals.pii import respondent_hash

HOSTS = {"us": "https://api.typeform.com", "eu": "https://api.eu.typeform.com"}
STREAM = "responses"
SCORE_TYPES = {"nps", "opinion_scale", "rating", "number"}


class TypeformConfigForm(forms.Form):
    token = forms.CharField(
        required=False,
        help_text=(
            "Typeform > Account > Your settings > Personal tokens > Generate a new token, with the "
            "responses:read and forms:read scopes. Stored encrypted; leave blank to keep the stored one."
        ),
    )
    region = forms.ChoiceField(
        choices=[("us", "api.typeform.com"), ("eu", "api.eu.typeform.com (EU data center)")], initial="us"
    )
    form_id = forms.CharField(
        max_length=64, help_text="From the form's address: https://acme.typeform.com/to/<form id>."
    )
    score_field = forms.CharField(
        max_length=100,
        help_text="The ref (or id) of the NPS or 0-10 opinion-scale question; check() lists the form's fields.",
    )
    comment_field = forms.CharField(
        required=False, max_length=100, help_text='The ref (or id) of the "why?" text question (optional).'
    )
    start_date = forms.DateField(
        help_text="The first sync reads responses submitted on or after this day (UTC)."
    )
    product_hidden_field = forms.CharField(
        required=False,
        max_length=100,
        help_text="A hidden field that names the product, e.g. product (optional).",
    )
    product_map = ProductMapField(
        help_text='That hidden field\'s value -> product slug, e.g. {"billing": "billing-app"}.'
    )


def _since(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@register
class TypeformConnector(Connector):
    kind = "typeform"
    label = "Typeform"
    family = "nps"
    description = (
        "NPS responses from one form: the score question you choose, the reason text, hidden fields as "
        "segments; new submissions are read with since and before tokens."
    )
    docs_url = "https://www.typeform.com/developers/responses/reference/retrieve-responses/"
    config_form = TypeformConfigForm
    secret_fields = ("token",)
    page_size = 1000  # Typeform's maximum

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient()
        return self._client

    @property
    def form_url(self) -> str:
        return f"{HOSTS.get(self.config.get('region') or 'us', HOSTS['us'])}/forms/{self.config['form_id']}"

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        token = self.secrets.get("token", "")
        if not token:
            raise ConnectorError(
                "No Typeform token is stored. Paste one in the connection's settings.", permanent=True
            )
        headers = {"Authorization": f"Bearer {token}"}
        return self.client.request("GET", url, params=params, headers=headers, expect_json=True).json()

    def check(self) -> CheckResult:
        try:
            form = self._get(self.form_url)
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        wanted = self.config.get("score_field")
        fields = form.get("fields") or []
        field = next((f for f in fields if wanted in (f.get("ref"), f.get("id"))), None)
        if field is None or field.get("type") not in SCORE_TYPES:
            choices = ", ".join(f"{f.get('ref')} ({f.get('type')})" for f in fields) or "none"
            return CheckResult(
                False,
                f"Form “{form.get('title')}” has no NPS or opinion-scale field {wanted!r}. Its fields: {choices}.",
            )
        return CheckResult(
            True, f"Connected to “{form.get('title')}”; scores come from “{field.get('title')}”."
        )

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: date) -> Any:
        return {"since": _since(datetime.combine(since, time.min, tzinfo=UTC))}

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        if "since" not in state:
            state["since"] = _since(
                datetime.fromisoformat(str(self.config["start_date"])).replace(tzinfo=UTC)
            )
        before = state.get("before")
        newest = utc(state.get("newest"))
        while True:
            params: dict[str, Any] = {"page_size": self.page_size, "since": state["since"]}
            if before:
                params["before"] = before
            payload = self._get(f"{self.form_url}/responses", params)
            items = payload.get("items") if isinstance(payload, dict) else None
            if not isinstance(items, list):
                raise ConnectorError("Typeform sent responses without an items list.", permanent=False)
            records = [r for r in (self._record(item, products) for item in items) if r is not None]
            for item in items:
                submitted = utc(item.get("submitted_at"))
                if submitted and (newest is None or submitted > newest):
                    newest = submitted
            if len(items) < self.page_size:
                following = _since(newest + timedelta(seconds=1)) if newest else state["since"]
                yield Page(records, {"since": following}, done=True)
                return
            before = items[-1]["token"]
            state_newest = newest.isoformat() if newest else None
            yield Page(records, {"since": state["since"], "before": before, "newest": state_newest})

    def _answer(self, item: dict[str, Any], ref: str) -> dict[str, Any] | None:
        for answer in item.get("answers") or []:
            field = answer.get("field") or {}
            if ref and ref in (field.get("ref"), field.get("id")):
                return dict(answer)
        return None

    def _record(self, item: dict[str, Any], products: dict[str, int]) -> Record | None:
        answer = self._answer(item, self.config["score_field"])
        if answer is None or answer.get("number") is None:
            return None  # the respondent skipped the score question: not an NPS response
        score = answer["number"]
        if not isinstance(score, int) or not 0 <= score <= 10:
            raise ConnectorError(
                f"Response {item.get('token')} scored {score!r} on {self.config['score_field']!r}; NPS needs 0-10. "
                "Choose an NPS question or a 0-10 opinion scale in the connection's settings.",
                permanent=True,
            )
        comment = self._answer(item, self.config.get("comment_field") or "")
        email = next((a.get("email") for a in item.get("answers") or [] if a.get("type") == "email"), None)
        hidden = dict(item.get("hidden") or {})
        segment = {**hidden, "platform": (item.get("metadata") or {}).get("platform")}
        hidden_product = self.config.get("product_hidden_field") or ""
        product = products.get(str(hidden.get(hidden_product))) if hidden_product else None
        values = {
            "score": score,
            "comment": (comment or {}).get("text") or "",  # typed text, kept as the respondent wrote it
            "segment": {k: v for k, v in segment.items() if v not in (None, "")},
            "respondent_hash": respondent_hash(email) if email else "",
            "submitted_at": utc(item.get("submitted_at")),
        }
        return Record("signals.NpsResponse", str(item["token"]), with_product(values, product))
