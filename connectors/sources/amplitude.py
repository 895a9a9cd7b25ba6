"""Amplitude: daily series per event, overall and per group-by user property, from the Dashboard REST
API's event segmentation.

API: GET https://amplitude.com/api/2/events/segmentation (EU: https://analytics.eu.amplitude.com),
HTTP Basic with the project's API key and secret key
  - ``e`` is the event as JSON (``{"event_type": ..., "group_by": [{"type": "user", "value": ...}]}``),
    ``start``/``end`` are YYYYMMDD (inclusive), ``i=1`` asks for daily values (at most 365 days per
    query), ``m`` is totals or uniques;
  - the answer is ``data.xValues`` (the days, in the project's time zone) with one ``data.series`` row
    per group and its label in ``data.seriesLabels`` (``[event index, group value]``);
  - one event per page; incremental: the cursor is the first day to ask for next time, which re-reads
    the last ``lookback_days`` because Amplitude keeps counting late events into past days;
  - 5 concurrent queries and a cost budget per hour per project; a 429 is retried with backoff
    (and Retry-After if sent).
Every metric of the connection belongs to one product: an Amplitude project maps to a product.
Docs: https://amplitude.com/docs/apis/analytics/dashboard-rest#event-segmentation
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import day_start, resolve_products, slug_key, with_product

HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
STREAM = "segmentation"
MAX_DAYS = 365  # Amplitude's cap for daily segmentation


class AmplitudeConfigForm(forms.Form):
    region = forms.ChoiceField(
        choices=[("us", "Standard (amplitude.com)"), ("eu", "EU residency (analytics.eu.amplitude.com)")],
        initial="us",
    )
    api_key = forms.CharField(max_length=100, help_text="Project settings > General > API Key.")
    secret_key = forms.CharField(
        required=False,
        help_text="Project settings > General > Secret Key. Stored encrypted; leave blank to keep the stored one.",
    )
    events = forms.CharField(
        max_length=2000, help_text="Comma-separated event types to chart, e.g. Signed Up, Report Exported."
    )
    group_by = forms.CharField(
        required=False,
        max_length=64,
        help_text="A user property to break each series down by, e.g. platform or country.",
    )
    measure = forms.ChoiceField(
        choices=[("totals", "Event totals"), ("uniques", "Unique users")],
        initial="totals",
        help_text="Totals are summed per group; uniques need one more query per event for the overall line.",
    )
    project_product = forms.SlugField(
        required=False,
        help_text="The product this Amplitude project measures (slug); blank: the connection's product.",
    )
    start_date = forms.DateField(help_text="The first sync reads from this day.")
    lookback_days = forms.IntegerField(
        min_value=0, max_value=30, initial=2, help_text="Days re-read on every sync to catch late events."
    )

    def clean_project_product(self) -> str:
        slug: str = self.cleaned_data.get("project_product") or ""
        if slug and not resolve_products({"project": slug}):
            raise forms.ValidationError(f"No product with slug {slug!r}.")
        return slug


@register
class AmplitudeConnector(Connector):
    kind = "amplitude"
    label = "Amplitude"
    family = "metrics"
    description = (
        "Daily series per event, overall and per group-by user property, from event segmentation "
        "(Dashboard REST API); the project maps to a product."
    )
    docs_url = "https://amplitude.com/docs/apis/analytics/dashboard-rest"
    config_form = AmplitudeConfigForm
    secret_fields = ("secret_key",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient()
        return self._client

    @property
    def base(self) -> str:
        return f"{HOSTS.get(self.config.get('region') or 'us', HOSTS['us'])}/api/2"

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        secret = self.secrets.get("secret_key", "")
        if not secret:
            raise ConnectorError(
                "No Amplitude secret key is stored. Paste it in the connection's settings.", permanent=True
            )
        raw = f"{self.config['api_key']}:{secret}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return self.client.request(
            "GET", f"{self.base}{path}", params=params, headers=headers, expect_json=True
        ).json()

    def check(self) -> CheckResult:
        try:
            listing = self._get("/events/list")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        known = {e.get("value") for e in listing.get("data") or []}
        missing = [e for e in self._events() if e not in known]
        if missing:
            return CheckResult(False, f"Connected, but the project has no event type {', '.join(missing)}.")
        return CheckResult(True, f"Connected: the project has {len(known)} event types.")

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: date) -> Any:
        return {"start": since.isoformat()}

    def _events(self) -> list[str]:
        return [e.strip() for e in (self.config.get("events") or "").split(",") if e.strip()]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        product = resolve_products({"project": self.config.get("project_product") or ""}).get("project")
        first = date.fromisoformat(str(self.config["start_date"]))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        start = date.fromisoformat(state["start"]) if state.get("start") else first
        last = timezone.now().date() - timedelta(days=1)
        lookback = int(self.config.get("lookback_days") or 0)
        resume = max(first, last - timedelta(days=lookback - 1))
        events = self._events()
        begin = int(state.get("event", 0))
        if start > last or not events:
            yield Page([], {"start": start.isoformat()}, done=True)
            return
        for index in range(begin, len(events)):
            record = self._metric(events[index], start, last, product)
            done = index == len(events) - 1
            following: dict[str, Any] = (
                {"start": resume.isoformat()} if done else {"start": start.isoformat(), "event": index + 1}
            )
            yield Page([record] if record.children[0][1] else [], following, done=done)

    def _series(
        self, event: dict[str, Any], start: date, end: date
    ) -> list[tuple[str, list[str], list[Any]]]:
        """(group label, days, values) for each series, querying at most MAX_DAYS at a time."""
        out: dict[str, tuple[list[str], list[Any]]] = {}
        window = start
        while window <= end:
            stop = min(end, window + timedelta(days=MAX_DAYS - 1))
            params = {
                "e": json.dumps(event, separators=(",", ":")),
                "start": window.strftime("%Y%m%d"),
                "end": stop.strftime("%Y%m%d"),
                "m": self.config.get("measure") or "totals",
                "i": 1,
            }
            data = (self._get("/events/segmentation", params) or {}).get("data") or {}
            days = [str(x)[:10] for x in data.get("xValues") or []]
            for series, label in zip(data.get("series") or [], data.get("seriesLabels") or [], strict=False):
                # A label is [event index, group value] with a group-by, else the event index alone.
                name = (
                    str(label[-1])
                    if isinstance(label, list) and label
                    else ("" if isinstance(label, int) else str(label))
                )
                got = out.setdefault(name, ([], []))
                got[0].extend(days[: len(series)])
                got[1].extend(series)
            window = stop + timedelta(days=1)
        return [(name, d, v) for name, (d, v) in out.items()]

    def _metric(self, name: str, start: date, end: date, product: int | None) -> Record:
        prop = (self.config.get("group_by") or "").strip()
        measure = self.config.get("measure") or "totals"
        points: list[dict[str, Any]] = []
        if prop:
            grouped = self._series(
                {"event_type": name, "group_by": [{"type": "user", "value": prop}]}, start, end
            )
            totals: dict[str, float] = {}
            for group, days, values in grouped:
                for day, value in zip(days, values, strict=True):
                    points.append(self._point(day, prop, group or "(none)", value))
                    totals[day] = totals.get(day, 0.0) + float(value or 0)
            if measure == "totals":
                # Every event has exactly one value of the property, so the groups add up to the total.
                points += [self._point(day, "", "", value) for day, value in totals.items()]
            else:
                for _group, days, values in self._series({"event_type": name}, start, end):
                    points += [self._point(day, "", "", v) for day, v in zip(days, values, strict=True)]
        else:
            for _group, days, values in self._series({"event_type": name}, start, end):
                points += [self._point(day, "", "", v) for day, v in zip(days, values, strict=True)]
        metric: dict[str, Any] = {
            "name": name[:200],
            "key": slug_key(name),
            "description": f"Amplitude event “{name}”, {'unique users' if measure == 'uniques' else 'events'} per day.",
            "unit": "count",
            "aggregation": "sum" if measure == "totals" else "mean",
            "dimensions": [prop] if prop else [],
        }
        return Record(
            "signals.Metric",
            f"event:{name}",
            with_product(metric, product),
            [("signals.MetricPoint", points, "metric")],
        )

    @staticmethod
    def _point(day: str, key: str, value: str, number: Any) -> dict[str, Any]:
        return {
            "ts": day_start(date.fromisoformat(day)),
            "dimension_key": key[:64],
            "dimension_value": value[:128],
            "value": float(number or 0),
        }
