"""PagerDuty: incidents with their service, urgency, priority and created/resolved times, from the REST
API v2 with an API key ("Authorization: Token token=<key>", "Accept: application/vnd.pagerduty+json;
version=2"). Services map to products (service id -> product slug), so an outage joins the product's
incident story beside its ticket spike and NPS dip.

- incidents: GET /incidents?since=&until=&sort_by=created_at:asc&time_zone=UTC&limit=100&offset=
  (optionally ``service_ids[]``). Classic pagination: ``limit``, ``offset``, ``more``; ``offset+limit``
  may not pass 10,000, so a longer listing continues from the last incident's ``created_at``. ``since``
  and ``until`` filter on creation and span at most six months, so a long backfill is read in windows.
- Incremental: the cursor keeps the creation time read up to (minus an hour, for incidents committed
  late) and the ids of incidents still open; each sync first re-reads those with
  GET /incidents/{id}, so an incident created long ago but resolved today gets its resolution.
- Rate limits: 429 with ``ratelimit-limit``, ``ratelimit-remaining`` and ``ratelimit-reset`` (seconds
  to wait); the client waits that long. Error bodies are ``{"error": {"message", "code", "errors"}}``.
Docs: https://developer.pagerduty.com/api-reference/9d0b4b12e36f9-list-incidents (list),
https://developer.pagerduty.com/api-reference/005299ac3d7f6-get-an-incident (one incident),
https://developer.pagerduty.com/docs/pagination (offset/limit/more),
https://developer.pagerduty.com/docs/authentication (Token token=),
https://support.pagerduty.com/docs/rest-api-rate-limits (rate limits),
https://developer.pagerduty.com/docs/errors (error bodies and codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, web_url, with_product

STREAM = "incidents"
PAGE_SIZE = 100
MAX_OFFSET = 10_000  # PagerDuty refuses offset + limit beyond this
WINDOW = timedelta(days=179)  # since/until may span at most six months
OVERLAP = timedelta(hours=1)
STATUSES = {"triggered", "acknowledged", "resolved"}


class PagerDutyConfigForm(forms.Form):
    api_host = forms.URLField(
        assume_scheme="https",
        initial="https://api.pagerduty.com",
        help_text="https://api.pagerduty.com, or https://api.eu.pagerduty.com for an EU account.",
    )
    api_key = forms.CharField(
        required=False,
        help_text=(
            "Integrations > API Access Keys > Create New API Key (a read-only key is enough). Stored "
            "encrypted; leave blank to keep the stored one."
        ),
    )
    service_map = ProductMapField(
        help_text=(
            'PagerDuty service id -> product slug, e.g. {"PIJ90N7": "pulse"} (the id is in the service\'s '
            "URL). Incidents of other services get the connection's product."
        )
    )
    only_mapped = forms.BooleanField(
        required=False, help_text="Read only the services in the mapping (service_ids[] filter)."
    )
    start_date = forms.DateField(help_text="The first sync reads incidents created from this day.")


@register
class PagerDutyConnector(Connector):
    kind = "pagerduty"
    label = "PagerDuty"
    family = "monitoring"
    description = (
        "On-call incidents with their service, urgency, priority, and created and resolved times; services "
        "map to products, so an outage joins the product's incidents."
    )
    docs_url = "https://developer.pagerduty.com/api-reference/9d0b4b12e36f9-list-incidents"
    config_form = PagerDutyConfigForm
    secret_fields = ("api_key",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("ratelimit-reset",))
        return self._client

    @property
    def api(self) -> str:
        return str(self.config.get("api_host") or "https://api.pagerduty.com").rstrip("/")

    def _get(self, path: str, params: Any = None) -> Any:
        key = self.secrets.get("api_key", "")
        if not key:
            raise ConnectorError(
                "No PagerDuty API key is stored. Paste one in the connection's settings.", permanent=True
            )
        headers = {
            "Authorization": f"Token token={key}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
        return self.client.request(
            "GET", f"{self.api}{path}", params=params, headers=headers, expect_json=True
        ).json()

    def check(self) -> CheckResult:
        try:
            payload = self._get("/services", {"limit": 1, "total": "true"})
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"Connected to PagerDuty: {payload.get('total') or 0} service(s).")

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: date) -> Any:
        return {"since": datetime.combine(since, time.min, tzinfo=UTC).isoformat()}

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        if stream != STREAM:
            raise ConnectorError(f"PagerDuty has no stream {stream!r}.", permanent=True)
        state = dict(cursor) if isinstance(cursor, dict) else {}
        products = resolve_products(self.config.get("service_map"))
        now = timezone.now()
        first = datetime.combine(date.fromisoformat(str(self.config["start_date"])), time.min, tzinfo=UTC)
        since = utc(state.get("since")) or first
        until = utc(state.get("until")) or min(now, since + WINDOW)
        still_open: set[str] = set(state.get("open") or [])

        if "offset" not in state and state.get("open"):
            # Incidents open at the last sync: re-read each, whenever it was created.
            records = []
            for incident_id in sorted(state["open"]):
                incident = self._one(incident_id)
                if incident is None:
                    still_open.discard(incident_id)
                    continue
                records.append(self._record(incident, products))
                if incident.get("status") == "resolved":
                    still_open.discard(incident_id)
            yield Page(
                records,
                {
                    "since": since.isoformat(),
                    "until": until.isoformat(),
                    "open": sorted(still_open),
                    "offset": 0,
                },
            )

        offset = int(state.get("offset") or 0)
        while True:
            params: dict[str, Any] = {
                "since": since.isoformat(),
                "until": until.isoformat(),
                "sort_by": "created_at:asc",
                "time_zone": "UTC",
                "limit": PAGE_SIZE,
                "offset": offset,
            }
            if self.config.get("only_mapped") and self.config.get("service_map"):
                params["service_ids[]"] = sorted(dict(self.config["service_map"]))
            payload = self._get("/incidents", params)
            incidents = payload.get("incidents") if isinstance(payload, dict) else None
            if not isinstance(incidents, list):
                raise ConnectorError("PagerDuty sent an incident list without incidents.")
            records = [self._record(i, products) for i in incidents if i.get("id")]
            for incident in incidents:
                if incident.get("status") in ("triggered", "acknowledged"):
                    still_open.add(str(incident["id"]))
                else:
                    still_open.discard(str(incident.get("id")))
            offset += len(incidents)
            if payload.get("more") and incidents:
                if offset + PAGE_SIZE > MAX_OFFSET:
                    # Past PagerDuty's offset ceiling: start a new listing at the last creation time.
                    since, offset = utc(incidents[-1].get("created_at")) or since, 0
                state_next = {
                    "since": since.isoformat(),
                    "until": until.isoformat(),
                    "open": sorted(still_open),
                    "offset": offset,
                }
                yield Page(records, state_next)
                continue
            if until < now:
                # The next six-month window of a long backfill.
                since, until, offset = until, min(now, until + WINDOW), 0
                yield Page(
                    records,
                    {
                        "since": since.isoformat(),
                        "until": until.isoformat(),
                        "open": sorted(still_open),
                        "offset": 0,
                    },
                )
                continue
            done = {"since": max(first, now - OVERLAP).isoformat(), "open": sorted(still_open)}
            yield Page(records, done, done=True)
            return

    def _one(self, incident_id: str) -> dict[str, Any] | None:
        try:
            payload = self._get(f"/incidents/{incident_id}")
        except ConnectorError as exc:
            if "HTTP 404" in exc.message:  # merged into another incident or deleted
                return None
            raise
        incident = payload.get("incident") if isinstance(payload, dict) else None
        return incident if isinstance(incident, dict) else None

    @staticmethod
    def _record(incident: dict[str, Any], products: dict[str, int]) -> Record:
        service = incident.get("service") or {}
        status = str(incident.get("status") or "triggered")
        status = status if status in STATUSES else "triggered"
        opened = utc(incident.get("created_at")) or timezone.now()
        resolved = utc(incident.get("resolved_at"))
        if resolved is None and status == "resolved":
            resolved = utc(incident.get("last_status_change_at"))
        number = incident.get("incident_number")
        values = {
            "number": int(number) if number is not None else None,
            "title": str(incident.get("title") or incident.get("summary") or incident["id"])[:500],
            "service_id": str(service.get("id") or "")[:64],
            "service_name": str(service.get("summary") or "")[:300],
            "status": status,
            "urgency": str(incident.get("urgency") or "")[:16],
            "priority": str((incident.get("priority") or {}).get("summary") or "")[:64],
            "opened_at": opened,
            "resolved_at": resolved if status == "resolved" else None,
            "url": web_url(incident.get("html_url")),
        }
        product = products.get(str(service.get("id") or ""))
        return Record("signals.OpsIncident", str(incident["id"]), with_product(values, product))
