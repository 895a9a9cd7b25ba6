"""Intercom: conversations as support tickets, from the Conversations search API.

API (developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/searchconversations):
  POST https://api.intercom.io/conversations/search (api.eu.intercom.io / api.au.intercom.io for the
  EU and Australian regions) with
  ``{"query": {"field": "updated_at", "operator": ">", "value": <unix seconds>},
     "pagination": {"per_page": 150, "starting_after": "<cursor>"}}``;
  the answer is a ``conversation.list`` whose ``pages.next.starting_after`` names the next page
  (absent on the last one). Every request carries the ``Intercom-Version`` header, so a change to the
  workspace's default API version can't reshape the answers under us.
Incremental: the cursor keeps the filter's ``since`` and the highest ``updated_at`` seen; after the
last page the next sync searches ``updated_at > highest - 1`` (one second of overlap, since Intercom
timestamps are whole seconds; the upsert leaves the re-read rows unchanged).
Rate limits: 429 with ``X-RateLimit-Reset`` (a Unix timestamp), which the HTTP client waits for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, html_to_text, resolve_products, utc, with_product

STREAM = "conversations"
HOSTS = {"us": "api.intercom.io", "eu": "api.eu.intercom.io", "au": "api.au.intercom.io"}
# Intercom's states: open, snoozed (waiting on someone: pending), closed (resolved: solved).
STATUS = {"open": "open", "snoozed": "pending", "closed": "solved"}
MAX_PER_PAGE = 150


class IntercomConfigForm(forms.Form):
    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Developer Hub > Your apps > (your app) > Authentication > Access token. The app needs the "
            "'Read conversations' and 'Read admins' permissions. Stored encrypted; leave blank to keep "
            "the stored one."
        ),
    )
    region = forms.ChoiceField(
        choices=[("us", "United States"), ("eu", "Europe"), ("au", "Australia")],
        initial="us",
        help_text="Where your workspace is hosted (Settings > Workspace > General).",
    )
    intercom_version = forms.CharField(
        max_length=20,
        initial="2.11",
        help_text="The API version sent in the Intercom-Version header, e.g. 2.11.",
    )
    start_date = forms.DateField(
        help_text="The first sync reads conversations updated on or after this day (UTC)."
    )
    per_page = forms.IntegerField(
        min_value=1, max_value=MAX_PER_PAGE, initial=MAX_PER_PAGE, required=False, help_text="At most 150."
    )
    product_map = ProductMapField(
        help_text=(
            'Conversation tag -> product slug, e.g. {"billing": "billing-app"}. Conversations without a '
            "mapped tag get the connection's product."
        )
    )


@register
class IntercomConnector(Connector):
    kind = "intercom"
    label = "Intercom"
    family = "tickets"
    description = (
        "Conversations as support tickets: subject, first message as text, state, priority, tags, "
        "channel, first reply and close times, and the customer's rating."
    )
    docs_url = "https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/searchconversations"
    config_form = IntercomConfigForm
    secret_fields = ("access_token",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("X-RateLimit-Reset",))
        return self._client

    @property
    def base(self) -> str:
        return f"https://{HOSTS.get(self.config.get('region') or 'us', HOSTS['us'])}"

    def _headers(self) -> dict[str, str]:
        token = self.secrets.get("access_token", "")
        if not token:
            raise ConnectorError(
                "No Intercom access token is stored. Paste one in the connection's settings.", permanent=True
            )
        return {
            "Authorization": f"Bearer {token}",
            "Intercom-Version": str(self.config.get("intercom_version") or "2.11"),
        }

    def check(self) -> CheckResult:
        try:
            me = self.client.request(
                "GET", f"{self.base}/me", headers=self._headers(), expect_json=True
            ).json()
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        app = (me.get("app") or {}).get("name") or "your workspace"
        return CheckResult(True, f"Connected to {app} as {me.get('email') or me.get('name')}.")

    def streams(self) -> list[str]:
        return [STREAM]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        since = int(state.get("since", self._start()))
        high = int(state.get("high", since))
        after = state.get("starting_after")
        per_page = min(int(self.config.get("per_page") or MAX_PER_PAGE), MAX_PER_PAGE)
        while True:
            pagination: dict[str, Any] = {"per_page": per_page}
            if after:
                pagination["starting_after"] = after
            body = {
                "query": {"field": "updated_at", "operator": ">", "value": since},
                "pagination": pagination,
            }
            payload = self.client.request(
                "POST",
                f"{self.base}/conversations/search",
                headers=self._headers(),
                json_body=body,
                expect_json=True,
            ).json()
            if not isinstance(payload, dict) or not isinstance(payload.get("conversations"), list):
                raise ConnectorError("Intercom sent a search page without a conversations list.")
            records = []
            for conversation in payload["conversations"]:
                records.append(self._record(conversation, products))
                high = max(high, int(conversation.get("updated_at") or 0))
            following = ((payload.get("pages") or {}).get("next") or {}).get("starting_after")
            if following and following != after:
                yield Page(records, {"since": since, "high": high, "starting_after": following})
                after = following
                continue
            # Done: the next sync asks for what changed after the newest conversation seen.
            yield Page(records, {"since": max(since, high - 1)}, done=True)
            return

    def _start(self) -> int:
        start = self.config.get("start_date")
        if not start:
            return 0
        return int(datetime.fromisoformat(str(start)).replace(tzinfo=UTC).timestamp())

    def _record(self, conversation: dict[str, Any], products: dict[str, int]) -> Record:
        source = conversation.get("source") or {}
        stats = conversation.get("statistics") or {}
        rating = conversation.get("conversation_rating") or {}
        tags = [t.get("name") for t in (conversation.get("tags") or {}).get("tags") or [] if t.get("name")]
        state = conversation.get("state") or ("open" if conversation.get("open") else "closed")
        status = STATUS.get(state, "open")
        body = source.get("body") or ""
        subject = conversation.get("title") or html_to_text(source.get("subject")) or ""
        score = rating.get("rating")
        values: dict[str, Any] = {
            "subject": subject[:500],
            "body": body,
            "body_text": html_to_text(body),
            "status": status,
            "priority": "high" if conversation.get("priority") == "priority" else "",
            "tags": tags,
            "channel": str(source.get("type") or source.get("delivered_as") or "")[:32],
            "opened_at": utc(conversation.get("created_at")),
            "first_response_at": utc(stats.get("first_admin_reply_at")),
            "solved_at": utc(stats.get("last_close_at")) if status == "solved" else None,
            "csat_rating": int(score) if isinstance(score, int | float) else None,
        }
        product = next((products[t] for t in tags if t in products), None)
        return Record("signals.SupportTicket", str(conversation["id"]), with_product(values, product))
