"""Zendesk Support: tickets and their satisfaction ratings, from the cursor-based Incremental Ticket Export.

API: GET https://{subdomain}.zendesk.com/api/v2/incremental/tickets/cursor.json
  - the first request sends ``start_time`` (Unix seconds); every later one sends only ``cursor``;
  - each page carries ``after_cursor`` and ``end_of_stream``; at ``end_of_stream: true`` Zendesk says
    to keep ``after_cursor`` and start the next export from it, so that is the cursor saved at the end
    of a sync and the next sync asks only for what changed since;
  - 10 requests a minute on this endpoint; a 429 carries Retry-After, which the HTTP client honours,
    and when ``ratelimit-remaining`` reaches 0 the next page waits ``ratelimit-reset`` seconds;
  - a ticket updated while the export runs can appear on two pages: the page keeps the last copy and
    the upsert (on the ticket id) keeps one row.
``include=metric_sets`` sideloads each ticket's metrics: ``solved_at`` and ``reply_time_in_minutes``
(calendar) give solved_at and first_response_at. The ticket's ``satisfaction_rating.score`` ("good"/"bad") becomes csat_rating 5/1; "offered" and
"unoffered" mean no rating. A ticket deleted in Zendesk comes back in the export with status
"deleted" in exports continued from a saved cursor: it no longer counts as open work, so its row
becomes closed and carries the tag ``zendesk:deleted``. A fresh export (first sync, backfill) asks
``exclude_deleted=true``: tickets deleted before they were ever synced are not worth a row.

Docs:
- https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-ticket-export-cursor-based
- https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api/
- https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_metrics/
- https://developer.zendesk.com/api-reference/introduction/rate-limits/
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient, parse_reset_header
from connectors.sources.normalise import ProductMapField, html_to_text, resolve_products, utc, with_product

STREAM = "tickets"
CSAT = {"good": 5, "bad": 1}
STATUSES = {"new", "open", "pending", "solved", "closed"}
# "hold" is Zendesk's "on-hold": waiting on a third party, i.e. still pending for the customer.
STATUS_ALIASES = {"hold": "pending"}
DELETED = "deleted"
DELETED_TAG = "zendesk:deleted"


class ZendeskConfigForm(forms.Form):
    subdomain = forms.SlugField(
        max_length=63, help_text="The part before .zendesk.com in your help desk's address, e.g. acme."
    )
    email = forms.EmailField(help_text="The e-mail of the agent (an admin) the API token belongs to.")
    api_token = forms.CharField(
        required=False,
        help_text=(
            "Admin Center > Apps and integrations > APIs > Zendesk API > Add API token. "
            "Stored encrypted; leave blank to keep the stored one."
        ),
    )
    start_date = forms.DateField(
        help_text="The first sync reads tickets created or changed on or after this day (UTC)."
    )
    product_by = forms.ChoiceField(
        choices=[("tag", "Ticket tag"), ("brand", "Brand id")],
        initial="tag",
        help_text="What decides a ticket's product in the mapping below.",
    )
    product_map = ProductMapField(
        help_text=(
            'Tag (or brand id) -> product slug, e.g. {"billing": "billing-app", "360000000002": "app"}. '
            "Tickets that match nothing get the connection's product."
        )
    )


@register
class ZendeskConnector(Connector):
    kind = "zendesk"
    label = "Zendesk Support"
    family = "tickets"
    description = (
        "Support tickets (subject, description as text, status, priority, tags, channel) with their "
        "satisfaction ratings, from the Incremental Ticket Export."
    )
    docs_url = "https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/"
    config_form = ZendeskConfigForm
    secret_fields = ("api_token",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("ratelimit-reset",))
        return self._client

    @property
    def base(self) -> str:
        return f"https://{self.config['subdomain']}.zendesk.com/api/v2"

    def _auth(self) -> dict[str, str]:
        import base64

        token = self.secrets.get("api_token", "")
        if not token:
            raise ConnectorError(
                "No Zendesk API token is stored. Paste one in the connection's settings.", permanent=True
            )
        raw = f"{self.config['email']}/token:{token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.request("GET", url, params=params, headers=self._auth(), expect_json=True).json()

    def check(self) -> CheckResult:
        try:
            me = self._get(f"{self.base}/users/me.json")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        user = me.get("user") or {}
        if not user.get("id"):
            return CheckResult(
                False, "Zendesk answered as an anonymous user. Check the e-mail and API token."
            )
        return CheckResult(
            True, f"Connected to {self.config['subdomain']}.zendesk.com as {user.get('email')}."
        )

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: date) -> Any:
        return {"since": since.isoformat()}  # read() starts a fresh export at start_time = since

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        url = f"{self.base}/incremental/tickets/cursor.json"
        saved = cursor.get("cursor") if isinstance(cursor, dict) else None
        if saved:
            params: dict[str, Any] = {"cursor": saved}
        else:
            since = cursor.get("since") if isinstance(cursor, dict) else None
            start = since or self.config.get("start_date")
            start_dt = (
                datetime.fromisoformat(str(start)).replace(tzinfo=UTC)
                if start
                else datetime(1970, 1, 1, tzinfo=UTC)
            )
            params = {"start_time": int(start_dt.timestamp())}
        extra = {"include": "metric_sets"}
        if not saved:
            # A fresh export (first sync, backfill) leaves deletions out: tickets deleted before we
            # ever saw them (spam, mostly) would only add closed rows to the volume. Continuing from
            # a saved cursor, deletions come through and close the rows synced earlier.
            extra["exclude_deleted"] = "true"
        params.update(extra)
        while True:
            response = self.client.request("GET", url, params=params, headers=self._auth(), expect_json=True)
            payload = response.json()
            if not isinstance(payload, dict) or "tickets" not in payload:
                raise ConnectorError("Zendesk sent an export page without a tickets list.", permanent=False)
            latest: dict[int, dict[str, Any]] = {}
            for ticket in payload["tickets"]:
                latest[ticket["id"]] = ticket  # within a page, the later copy is the newer one
            metrics = {m.get("ticket_id"): m for m in payload.get("metric_sets") or []}
            records = [
                self._record(t, metrics.get(t["id"]) or {}, products)
                for t in latest.values()
                if t.get("created_at") or t.get("updated_at")  # a row needs a time to sit on
            ]
            after = payload.get("after_cursor") or saved
            done = bool(payload.get("end_of_stream")) or not payload.get("after_cursor")
            yield Page(records=records, cursor={"cursor": after} if after else None, done=done)
            if done:
                return
            saved = after
            params = {"cursor": after, **extra}
            self._pace(response.headers)

    def _pace(self, headers: Mapping[str, str]) -> None:
        """Wait out the window before the next page when Zendesk says none are left in it.

        Zendesk sends ``ratelimit-remaining`` and ``ratelimit-reset`` (seconds) on API responses;
        waiting here is cheaper than drawing a 429 on this 10-requests-a-minute endpoint."""
        if headers.get("ratelimit-remaining", "").strip() == "0":
            wait = parse_reset_header(headers.get("ratelimit-reset"))
            if wait:
                self.client.sleep(min(wait, 60.0))

    def _record(self, ticket: dict[str, Any], metric: dict[str, Any], products: dict[str, int]) -> Record:
        status = STATUS_ALIASES.get(ticket.get("status") or "", ticket.get("status") or "open")
        rating = ticket.get("satisfaction_rating") or {}
        description = ticket.get("description") or ""
        tags = list(ticket.get("tags") or [])
        if status == DELETED:
            status = "closed"
            tags.append(DELETED_TAG)
        if self.config.get("product_by") == "brand":
            product = products.get(str(ticket.get("brand_id")))
        else:
            product = next((products[t] for t in tags if t in products), None)
        # A deleted ticket in the export may be a stub; its last update stands in for a missing creation time.
        opened = utc(ticket.get("created_at")) or utc(ticket.get("updated_at"))
        # The sideloaded ticket metrics give the first reply as minutes after creation (calendar time).
        reply = (metric.get("reply_time_in_minutes") or {}).get("calendar")
        values = {
            "subject": (ticket.get("subject") or "")[:500],
            "body": description,
            "body_text": html_to_text(description),
            "status": status if status in STATUSES else "open",
            "priority": ticket.get("priority") or "",
            "tags": tags,
            "channel": ((ticket.get("via") or {}).get("channel") or "")[:32],
            "opened_at": opened,
            "first_response_at": opened + timedelta(minutes=reply) if opened and reply is not None else None,
            "solved_at": utc(metric.get("solved_at")),
            "csat_rating": CSAT.get(rating.get("score") or ""),
        }
        return Record("signals.SupportTicket", str(ticket["id"]), with_product(values, product))
