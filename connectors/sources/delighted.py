"""Delighted: NPS survey responses, with the respondent's properties as the segment.

API: GET https://api.delighted.com/v1/survey_responses.json (HTTP Basic, the API key as the user name)
  - ``per_page`` (max 100) and ``page`` for paging; a short page is the last one;
  - ``updated_since`` (Unix seconds, inclusive) restricts to responses created or changed since then,
    and ``order=asc:updated_at`` reads them oldest change first, so the cursor saved at the end of a
    sync is the newest ``updated_at`` seen and the next sync asks only for later changes;
  - ``expand[]=person`` embeds the person, whose e-mail is kept only as a keyed hash;
  - a 429 carries Retry-After (seconds), which the HTTP client honours.
Docs: https://app.delighted.com/docs/api/listing-survey-responses
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product
from productops.signals.pii import respondent_hash

API = "https://api.delighted.com/v1"
STREAM = "survey_responses"


class DelightedConfigForm(forms.Form):
    api_key = forms.CharField(
        required=False,
        help_text=(
            "Delighted > Integrations > API: the project's private API key. Stored encrypted; leave blank "
            "to keep the stored one."
        ),
    )
    start_date = forms.DateField(
        help_text="The first sync reads responses changed on or after this day (UTC)."
    )
    segment_properties = forms.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated person properties to keep as the segment, e.g. Plan, Country (blank: all).",
    )
    product_property = forms.CharField(
        required=False,
        max_length=100,
        help_text="A person property that names the product, e.g. Product (blank: the connection's product).",
    )
    product_map = ProductMapField(
        help_text='That property\'s value -> product slug, e.g. {"billing": "billing-app"}.'
    )


@register
class DelightedConnector(Connector):
    kind = "delighted"
    label = "Delighted"
    family = "nps"
    description = (
        "NPS survey responses (score, comment, when) with the respondent's properties as segments; "
        "changed responses are picked up by updated_since."
    )
    docs_url = "https://app.delighted.com/docs/api/listing-survey-responses"
    config_form = DelightedConfigForm
    secret_fields = ("api_key",)
    per_page = 100  # Delighted's maximum

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient()
        return self._client

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        key = self.secrets.get("api_key", "")
        if not key:
            raise ConnectorError(
                "No Delighted API key is stored. Paste one in the connection's settings.", permanent=True
            )
        auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
        return self.client.request(
            "GET", f"{API}{path}", params=params, headers=auth, expect_json=True
        ).json()

    def check(self) -> CheckResult:
        try:
            metrics = self._get("/metrics.json")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(
            True, f"Connected: Delighted reports NPS {metrics.get('nps')} over the last 30 days."
        )

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: date) -> Any:
        return {"updated_since": int(datetime.combine(since, time.min, tzinfo=UTC).timestamp())}

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        if "updated_since" not in state:
            start = datetime.fromisoformat(str(self.config["start_date"])).replace(tzinfo=UTC)
            state["updated_since"] = int(start.timestamp())
        page = int(state.get("page") or 1)
        newest = int(state.get("newest") or state["updated_since"])
        while True:
            params = {
                "per_page": self.per_page,
                "page": page,
                "updated_since": state["updated_since"],
                "order": "asc:updated_at",
                "expand[]": "person",
            }
            payload = self._get("/survey_responses.json", params)
            if not isinstance(payload, list):
                raise ConnectorError(
                    "Delighted sent survey responses in an unexpected shape.", permanent=False
                )
            records = []
            for raw in payload:
                changed = raw.get("updated_at") or raw.get("created_at") or 0
                newest = max(newest, int(changed))
                if raw.get("survey_type", "nps") != "nps" or raw.get("score") is None:
                    continue  # CSAT/CES/... surveys share the endpoint; only NPS fits NpsResponse
                records.append(self._record(raw, products))
            done = len(payload) < self.per_page
            if done:
                # Next sync: everything changed since the newest change seen (inclusive, so a response
                # changed in that same second is read again and left unchanged by the upsert).
                yield Page(records, {"updated_since": newest}, done=True)
                return
            page += 1
            yield Page(records, {"updated_since": state["updated_since"], "page": page, "newest": newest})

    def _record(self, raw: dict[str, Any], products: dict[str, int]) -> Record:
        props = raw.get("person_properties") or {}
        wanted = [p.strip() for p in (self.config.get("segment_properties") or "").split(",") if p.strip()]
        segment = {k: v for k, v in props.items() if not wanted or k in wanted}
        person = raw.get("person")
        email = person.get("email") if isinstance(person, dict) else None
        product_property = self.config.get("product_property") or ""
        product = products.get(str(props.get(product_property))) if product_property else None
        values = {
            "score": int(raw["score"]),
            "comment": raw.get("comment") or "",
            "segment": segment,
            "respondent_hash": respondent_hash(email) if email else "",
            "submitted_at": utc(raw.get("created_at")),
        }
        return Record("signals.NpsResponse", str(raw["id"]), with_product(values, product))
