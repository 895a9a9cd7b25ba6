"""Mixpanel: daily event counts (overall and per chosen property) from the Raw Event Export.

API: GET https://{data|data-eu|data-in}.mixpanel.com/api/2.0/export (HTTP Basic with a service
account, ``project_id`` in the query)
  - ``from_date``/``to_date`` (inclusive, UTC for projects made since 2023) — we ask one day per
    request, so each day is one page and its cursor; ``event`` narrows to a JSON list of names;
  - the body is JSONL, one event per line; the export is not deduplicated, so events are counted once
    per (event, distinct_id, time, $insert_id), as Mixpanel recommends;
  - incremental: the cursor is the next day to read; each sync also re-reads the last
    ``lookback_days`` because late events (mobile clients offline) land on past days;
  - 60 queries an hour, 3 a second: a 429 is retried with backoff (and Retry-After if sent); a sync
    that still hits the hourly cap stops with the days read so far committed, and the next resumes.
Docs: https://developer.mixpanel.com/reference/raw-event-export
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import day_start, slug_key

HOSTS = {
    "us": "https://data.mixpanel.com",
    "eu": "https://data-eu.mixpanel.com",
    "in": "https://data-in.mixpanel.com",
}
STREAM = "events"
NONE = "(none)"


class MixpanelConfigForm(forms.Form):
    region = forms.ChoiceField(
        choices=[
            ("us", "US (data.mixpanel.com)"),
            ("eu", "EU residency (data-eu)"),
            ("in", "India residency (data-in)"),
        ],
        initial="us",
        help_text="Where the project's data lives (Project settings > Overview > Data residency).",
    )
    project_id = forms.IntegerField(min_value=1, help_text="Project settings > Overview > Project ID.")
    service_account = forms.CharField(
        max_length=200, help_text="Organization settings > Service accounts: the account's user name."
    )
    service_account_secret = forms.CharField(
        required=False,
        help_text="That service account's secret (shown once when created). Stored encrypted; blank keeps it.",
    )
    events = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Comma-separated event names to count (blank: every event).",
    )
    group_by = forms.CharField(
        required=False,
        max_length=64,
        help_text="An event property to break the counts down by, e.g. $os or plan.",
    )
    start_date = forms.DateField(help_text="The first sync counts from this day (UTC).")
    lookback_days = forms.IntegerField(
        min_value=0, max_value=30, initial=2, help_text="Days re-read on every sync to catch late events."
    )


@register
class MixpanelConnector(Connector):
    kind = "mixpanel"
    label = "Mixpanel"
    family = "metrics"
    description = (
        "Daily counts per event, overall and per chosen property, from the Raw Event Export "
        "(deduplicated on $insert_id)."
    )
    docs_url = "https://developer.mixpanel.com/reference/raw-event-export"
    config_form = MixpanelConfigForm
    secret_fields = ("service_account_secret",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient()
        return self._client

    @property
    def url(self) -> str:
        return f"{HOSTS.get(self.config.get('region') or 'us', HOSTS['us'])}/api/2.0/export"

    def _export(self, day: date, *, limit: int | None = None) -> str:
        secret = self.secrets.get("service_account_secret", "")
        if not secret:
            raise ConnectorError(
                "No service account secret is stored. Paste it in the connection's settings.", permanent=True
            )
        raw = f"{self.config['service_account']}:{secret}".encode()
        params: dict[str, Any] = {
            "project_id": self.config["project_id"],
            "from_date": day.isoformat(),
            "to_date": day.isoformat(),
        }
        names = [e.strip() for e in (self.config.get("events") or "").split(",") if e.strip()]
        if names:
            params["event"] = json.dumps(names)
        if limit:
            params["limit"] = limit
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode(), "Accept": "text/plain"}
        return self.client.request("GET", self.url, params=params, headers=headers).text

    def check(self) -> CheckResult:
        yesterday = timezone.now().date() - timedelta(days=1)
        try:
            self._export(yesterday, limit=1)
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"Connected to Mixpanel project {self.config['project_id']}.")

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: date) -> Any:
        return {"next_day": since.isoformat()}

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        start = date.fromisoformat(str(self.config["start_date"]))
        if isinstance(cursor, dict) and cursor.get("next_day"):
            start = date.fromisoformat(cursor["next_day"])
        last = timezone.now().date() - timedelta(days=1)  # today is still filling up
        lookback = int(self.config.get("lookback_days") or 0)
        resume = max(date.fromisoformat(str(self.config["start_date"])), last - timedelta(days=lookback - 1))
        day = start
        while day <= last:
            records = self._day(day, self._export(day))
            done = day == last
            following = resume if done else day + timedelta(days=1)
            yield Page(records, {"next_day": following.isoformat()}, done=done)
            day += timedelta(days=1)
        if start > last:
            yield Page([], {"next_day": start.isoformat()}, done=True)

    def _day(self, day: date, body: str) -> list[Record]:
        prop = (self.config.get("group_by") or "").strip()
        seen: set[tuple[Any, ...]] = set()
        totals: Counter[str] = Counter()
        by_value: Counter[tuple[str, str]] = Counter()
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                raise ConnectorError(
                    f"Mixpanel's export for {day} broke off at line {number}; the sync will read that day again.",
                    permanent=False,
                ) from None
            name = str(event.get("event") or "")
            props = event.get("properties") or {}
            insert_id = props.get("$insert_id")
            if insert_id:
                key = (name, props.get("distinct_id"), props.get("time"), insert_id)
                if key in seen:
                    continue
                seen.add(key)
            totals[name] += 1
            if prop:
                value = props.get(prop)
                by_value[(name, NONE if value in (None, "") else str(value)[:128])] += 1
        ts = day_start(day)
        records = []
        for name, count in sorted(totals.items()):
            points = [{"ts": ts, "dimension_key": "", "dimension_value": "", "value": float(count)}]
            points += [
                {"ts": ts, "dimension_key": prop[:64], "dimension_value": value, "value": float(n)}
                for (event_name, value), n in sorted(by_value.items())
                if event_name == name
            ]
            values = {
                "name": name[:200],
                "key": slug_key(name),
                "description": f"Mixpanel event “{name}”, events per day (UTC).",
                "unit": "count",
                "aggregation": "sum",
                "dimensions": [prop] if prop else [],
            }
            records.append(
                Record("signals.Metric", f"event:{name}", values, [("signals.MetricPoint", points, "metric")])
            )
        return records
