"""Test-only connectors, registered when this module is imported.

`zendesk_tickets_test` reads Zendesk's cursor-based incremental ticket export with plain `requests`
(the shared HTTP client lives on another branch) and maps failures to ConnectorError the way the
real client does: 401/403 permanent; 429 (with Retry-After), 5xx, timeouts, resets, truncated or
malformed bodies transient. `slow_counter_test` yields numbered tickets slowly, for the worker test;
the worker process imports this module through PRODUCTOPS_EXTRA_CONNECTORS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register


class ZendeskForm(forms.Form):
    subdomain = forms.CharField(help_text="The part before .zendesk.com")
    email = forms.EmailField(help_text="The agent the token belongs to")
    api_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Admin Center > Apps and integrations > Zendesk API",
    )


@register
class ZendeskTicketsTest(Connector):
    kind = "zendesk_tickets_test"
    label = "Zendesk (test)"
    family = "tickets"
    description = "Support tickets from Zendesk's incremental export (test copy)."
    docs_url = "https://support.zendesk.com/hc/en-us/articles/4408889192858"
    config_form = ZendeskForm
    secret_fields = ("api_token",)

    @property
    def base(self) -> str:
        return f"https://{self.config['subdomain']}.zendesk.com/api/v2"

    def _get(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        auth = (f"{self.config['email']}/token", self.secrets.get("api_token", ""))
        try:
            response = requests.get(url, params=params, auth=auth, timeout=(5, 30))
        except requests.Timeout:
            raise ConnectorError("Zendesk didn't answer in time.") from None
        except requests.ConnectionError:
            raise ConnectorError("The connection to Zendesk was reset.") from None
        if response.status_code in (401, 403):
            raise ConnectorError(
                f"Zendesk refused the API token (HTTP {response.status_code}). Create a new token in Admin "
                "Center and paste it into this connection.",
                permanent=True,
            )
        if response.status_code == 400:
            # Vendors sometimes echo the request back; the framework must scrub secrets from this.
            raise ConnectorError(f"Zendesk rejected the request: {response.text[:300]}", permanent=True)
        if response.status_code == 429:
            retry_after = float(response.headers.get("Retry-After", "60"))
            raise ConnectorError("Zendesk rate-limited us (HTTP 429).", retry_after=retry_after)
        if response.status_code >= 500:
            raise ConnectorError(f"Zendesk had a server error (HTTP {response.status_code}).")
        try:
            data = response.json()
        except ValueError:
            raise ConnectorError("Zendesk sent a truncated or malformed JSON body.") from None
        if not isinstance(data, dict):
            raise ConnectorError("Zendesk sent JSON of an unexpected shape.")
        return data

    def check(self) -> CheckResult:
        me = self._get(f"{self.base}/users/me.json", {})
        return CheckResult(True, f"Connected as {me.get('user', {}).get('email', 'unknown')}.")

    def streams(self) -> list[str]:
        return ["tickets"]

    def cursor_for_date(self, stream: str, since: Any) -> Any:
        return {"start_time": int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp())}

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        cursor = cursor or {"start_time": 0}
        while True:
            if cursor.get("after_cursor"):
                params: dict[str, Any] = {"cursor": cursor["after_cursor"]}
            else:
                params = {"start_time": cursor.get("start_time", 0)}
            data = self._get(f"{self.base}/incremental/tickets/cursor.json", params)
            records = [
                Record(
                    model="signals.SupportTicket",
                    external_id=str(t["id"]),
                    values={
                        "subject": t.get("subject") or "",
                        "body": t.get("description") or "",
                        "body_text": t.get("description") or "",
                        "status": t.get("status") or "open",
                        "priority": t.get("priority") or "",
                        "tags": t.get("tags") or [],
                        "channel": (t.get("via") or {}).get("channel", ""),
                        "opened_at": t["created_at"],
                    },
                )
                for t in data.get("tickets", [])
            ]
            cursor = {"after_cursor": data.get("after_cursor")}
            done = bool(data.get("end_of_stream"))
            yield Page(records=records, cursor=cursor, done=done)
            if done:
                return


class CounterForm(forms.Form):
    total = forms.IntegerField()
    page_size = forms.IntegerField()
    delay = forms.FloatField()


@register
class SlowCounterTest(Connector):
    kind = "slow_counter_test"
    label = "Slow counter (test)"
    family = "tickets"
    description = "Numbered tickets, a page every `delay` seconds."
    config_form = CounterForm

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def streams(self) -> list[str]:
        return ["tickets"]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        offset = int((cursor or {}).get("offset", 0))
        total, size, delay = (
            int(self.config["total"]),
            int(self.config["page_size"]),
            float(self.config["delay"]),
        )
        start = datetime(2026, 1, 1, tzinfo=UTC)
        while offset < total:
            time.sleep(delay)
            end = min(total, offset + size)
            records = [
                Record(
                    "signals.SupportTicket",
                    f"t{i}",
                    {"subject": f"ticket {i}", "opened_at": start + timedelta(minutes=i)},
                )
                for i in range(offset, end)
            ]
            offset = end
            yield Page(records=records, cursor={"offset": offset}, done=offset >= total)
