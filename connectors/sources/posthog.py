"""PostHog (cloud or self-hosted): daily trends per event, experiments with their variants and results,
and feature flags with their change history, from the project API (personal API key, Bearer).

- trends: POST /api/projects/{id}/query/ with a TrendsQuery (one event, ``interval: day``,
  ``dateRange``, optional ``breakdownFilter``); each result row has ``days`` and ``data`` and, with a
  breakdown, its ``breakdown_value``. One event per page. Incremental: ``date_from`` is the saved day,
  which re-reads the last ``lookback_days`` for late events.
- experiments: GET /api/projects/{id}/experiments/ — list pages (``count``, ``next``, ``results``),
  variants from ``parameters.feature_flag_variants``. The list has no "changed since" filter: it is
  read whole each sync (it is small) and the upsert leaves unchanged rows alone.
- experiment results: for each metric of the new experiment engine (``metrics`` and
  ``metrics_secondary`` entries of kind ``ExperimentMetric``, ``metric_type`` funnel or mean), POST
  /api/projects/{id}/query/ with ``{"kind": "ExperimentQuery", "experiment_id", "metric"}``; the answer
  has ``baseline`` and ``variant_results[]``, each with ``key``, ``number_of_samples``, ``sum`` and
  ``sum_squares`` (PostHog's ExperimentStatsBase), stored as one cumulative ExperimentResult per
  variant, metric and day (funnel: conversions = sum; mean: sum and sum of squares). Ratio and
  retention metrics, and legacy ``ExperimentTrendsQuery``/``ExperimentFunnelsQuery`` metrics, are
  skipped: the verdict engine has no denominator column for them. Results are asked for experiments
  running now and for any updated since the last sync (cursor: the newest ``updated_at`` seen).
- flags: GET /api/projects/{id}/feature_flags/ (same paging) and the flags' activity log
  GET /api/projects/{id}/feature_flags/activity (newest first): read until the newest entry the last
  sync saw, so only new changes are fetched; each change becomes a FlagChange of its flag.
- rate limits: 240/minute and 1200/hour on analytics endpoints (query), 480/minute on CRUD lists;
  a 429 carries Retry-After, which the HTTP client honours.
Docs: https://posthog.com/docs/api (queries, experiments, feature-flags),
https://posthog.com/docs/api/queries (the query endpoint), https://posthog.com/docs/experiments/metrics
(metric types), https://posthog.com/docs/api#rate-limiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.utils import timezone

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, Sibling, register
from connectors.http import HttpClient
from connectors.sources.normalise import day_start, resolve_products, slug_key, utc, with_product

STREAMS = ["trends", "experiments", "flags"]
NULL_BREAKDOWN = "$$_posthog_breakdown_null_$$"


class PostHogConfigForm(forms.Form):
    host = forms.URLField(
        assume_scheme="https",
        initial="https://us.posthog.com",
        help_text="https://us.posthog.com, https://eu.posthog.com, or your self-hosted PostHog's address.",
    )
    project_id = forms.IntegerField(
        min_value=1, help_text="Project settings > Project ID (also in the app's URL)."
    )
    api_key = forms.CharField(
        required=False,
        help_text=(
            "Account settings > Personal API keys > Create, with read access to query, experiment and "
            "feature_flag (and activity_log). Stored encrypted; leave blank to keep the stored one."
        ),
    )
    events = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Comma-separated events to chart daily, e.g. $pageview, signed_up.",
    )
    breakdown = forms.CharField(
        required=False,
        max_length=100,
        help_text="An event property to break each trend down by, e.g. $browser.",
    )
    project_product = forms.SlugField(
        required=False,
        help_text="The product this PostHog project belongs to (slug); blank: the connection's product.",
    )
    start_date = forms.DateField(help_text="The first sync charts from this day.")
    lookback_days = forms.IntegerField(min_value=0, max_value=30, initial=2)


@register
class PostHogConnector(Connector):
    kind = "posthog"
    label = "PostHog"
    family = "metrics"
    description = (
        "Daily trends per event (with a breakdown), experiments with their variants and results (funnel "
        "and mean metrics), and feature flags with their change history; cloud or self-hosted."
    )
    docs_url = "https://posthog.com/docs/api"
    config_form = PostHogConfigForm
    secret_fields = ("api_key",)
    also_fills = ("experiments", "flags")

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient()
        return self._client

    @property
    def base(self) -> str:
        return f"{str(self.config['host']).rstrip('/')}/api/projects/{self.config['project_id']}"

    def _headers(self) -> dict[str, str]:
        key = self.secrets.get("api_key", "")
        if not key:
            raise ConnectorError(
                "No PostHog personal API key is stored. Paste one in the connection's settings.",
                permanent=True,
            )
        return {"Authorization": f"Bearer {key}"}

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.request(
            "GET", url, params=params, headers=self._headers(), expect_json=True
        ).json()

    def _list(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Pages of a DRF list, following ``next`` only on the configured host."""
        url: str | None = f"{self.base}{path}"
        query = params
        while url:
            payload = self._get(url, query)
            yield payload
            url, query = payload.get("next"), None
            if url and urlsplit(url).netloc != urlsplit(self.base).netloc:
                raise ConnectorError(
                    f"PostHog's next-page link points at another host ({urlsplit(url).netloc}); refusing to "
                    "send the API key there. Check the host in the connection's settings.",
                    permanent=True,
                )

    def check(self) -> CheckResult:
        try:
            project = self._get(f"{self.base}/")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"Connected to PostHog project “{project.get('name')}”.")

    def streams(self) -> list[str]:
        return list(STREAMS)

    def cursor_for_date(self, stream: str, since: date) -> Any:
        if stream == "trends":
            return {"start": since.isoformat()}
        if stream == "flags":
            return {"activity_until": datetime.combine(since, time.min, tzinfo=UTC).isoformat()}
        return None  # experiments are read whole every time, with results for every started one

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        product = resolve_products({"project": self.config.get("project_product") or ""}).get("project")
        state = dict(cursor) if isinstance(cursor, dict) else {}
        if stream == "trends":
            yield from self._trends(state, product)
        elif stream == "experiments":
            yield from self._experiments(state, product)
        elif stream == "flags":
            yield from self._flags(state, product)
        else:
            raise ConnectorError(f"PostHog has no stream {stream!r}.", permanent=True)

    # -- trends

    def _trends(self, state: dict[str, Any], product: int | None) -> Iterator[Page]:
        first = date.fromisoformat(str(self.config["start_date"]))
        start = date.fromisoformat(state["start"]) if state.get("start") else first
        last = timezone.now().date() - timedelta(days=1)
        lookback = int(self.config.get("lookback_days") or 0)
        resume = max(first, last - timedelta(days=lookback - 1))
        events = [e.strip() for e in (self.config.get("events") or "").split(",") if e.strip()]
        if start > last or not events:
            yield Page([], {"start": start.isoformat()}, done=True)
            return
        for index in range(int(state.get("event", 0)), len(events)):
            record = self._trend(events[index], start, last, product)
            done = index == len(events) - 1
            following: dict[str, Any] = (
                {"start": resume.isoformat()} if done else {"start": start.isoformat(), "event": index + 1}
            )
            yield Page([record] if record.children[0][1] else [], following, done=done)

    def _trend(self, event: str, start: date, end: date, product: int | None) -> Record:
        prop = (self.config.get("breakdown") or "").strip()
        query: dict[str, Any] = {
            "kind": "TrendsQuery",
            "series": [{"kind": "EventsNode", "event": event, "math": "total"}],
            "interval": "day",
            "dateRange": {"date_from": start.isoformat(), "date_to": end.isoformat()},
        }
        if prop:
            query["breakdownFilter"] = {"breakdown": prop, "breakdown_type": "event"}
        payload = self.client.request(
            "POST",
            f"{self.base}/query/",
            json_body={"query": query},
            headers=self._headers(),
            expect_json=True,
        ).json()
        totals: dict[str, float] = {}
        points: list[dict[str, Any]] = []
        for row in payload.get("results") or []:
            value = row.get("breakdown_value")
            for day, number in zip(row.get("days") or [], row.get("data") or [], strict=False):
                number = float(number or 0)
                totals[day] = totals.get(day, 0.0) + number
                if prop:
                    label = "(none)" if value in (None, "", NULL_BREAKDOWN) else str(value)
                    points.append(self._point(day, prop, label, number))
        points += [self._point(day, "", "", number) for day, number in totals.items()]
        values = {
            "name": event[:200],
            "key": slug_key(event),
            "description": f"PostHog event “{event}”, events per day.",
            "unit": "count",
            "aggregation": "sum",
            "dimensions": [prop] if prop else [],
        }
        return Record(
            "signals.Metric",
            f"event:{event}",
            with_product(values, product),
            [("signals.MetricPoint", points, "metric")],
        )

    @staticmethod
    def _point(day: str, key: str, value: str, number: float) -> dict[str, Any]:
        return {
            "ts": day_start(date.fromisoformat(day[:10])),
            "dimension_key": key[:64],
            "dimension_value": value[:128],
            "value": number,
        }

    # -- experiments

    def _experiments(self, state: dict[str, Any], product: int | None) -> Iterator[Page]:
        watermark = utc(state.get("watermark"))
        high = watermark
        pages = list(self._list("/experiments/", {"limit": 100}))
        for number, payload in enumerate(pages, start=1):
            records = []
            for raw in payload.get("results") or []:
                if raw.get("deleted"):
                    continue
                updated = utc(raw.get("updated_at"))
                changed = watermark is None or (updated is not None and updated > watermark)
                results: list[dict[str, Any]] = []
                if raw.get("start_date") and (not raw.get("end_date") or changed):
                    results = self._experiment_results(raw)
                records.append(self._experiment(raw, product, results))
                if updated is not None and (high is None or updated > high):
                    high = updated
            done = number == len(pages)
            cursor = {"watermark": high.isoformat() if high else None} if done else (state or None)
            yield Page(records, cursor, done=done)

    def _experiment_results(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        """Cumulative results per variant for each funnel or mean metric, as of today (or the end)."""
        variants = {str(v["key"]) for v in (raw.get("parameters") or {}).get("feature_flag_variants") or []}
        ended = utc(raw.get("end_date"))
        now = timezone.now()
        day = (ended if ended is not None and ended < now else now).date()
        metrics = [*(raw.get("metrics") or []), *(raw.get("metrics_secondary") or [])]
        rows: list[dict[str, Any]] = []
        for index, metric in enumerate(metrics):
            kind = metric.get("metric_type")
            if metric.get("kind") != "ExperimentMetric" or kind not in ("funnel", "mean"):
                continue
            query = {"kind": "ExperimentQuery", "experiment_id": raw["id"], "metric": metric}
            try:
                payload = self.client.request(
                    "POST",
                    f"{self.base}/query/",
                    json_body={"query": query},
                    headers=self._headers(),
                    expect_json=True,
                ).json()
            except ConnectorError as exc:
                if exc.permanent and "HTTP 400" in exc.message:  # e.g. no exposures yet
                    continue
                raise
            stats = (
                [payload.get("baseline"), *(payload.get("variant_results") or [])]
                if payload.get("baseline")
                else list(payload.get("variants") or [])
            )
            key = str(metric.get("name") or metric.get("uuid") or f"metric-{index + 1}")[:200]
            for stat in stats:
                if not isinstance(stat, dict) or str(stat.get("key")) not in variants:
                    continue
                n = int(stat.get("number_of_samples") or 0)
                total, squares = float(stat.get("sum") or 0), float(stat.get("sum_squares") or 0)
                funnel = kind == "funnel"
                rows.append(
                    {
                        "variant_id": Sibling("key", str(stat["key"])[:100]),
                        "metric_key": key,
                        "kind": "conversion" if funnel else "continuous",
                        "date": day,
                        "exposures": n,
                        "conversions": round(total) if funnel else None,
                        "value_sum": None if funnel else total,
                        "value_sum_squares": None if funnel else squares,
                    }
                )
        return rows

    def _experiment(self, raw: dict[str, Any], product: int | None, results: list[dict[str, Any]]) -> Record:
        started, ended = utc(raw.get("start_date")), utc(raw.get("end_date"))
        status = "draft" if started is None else ("finished" if ended else "running")
        if raw.get("archived") and status == "running":
            status = "stopped"
        variants = ((raw.get("parameters") or {}).get("feature_flag_variants")) or []
        metrics = raw.get("metrics") or []
        values = {
            "key": str(raw.get("feature_flag_key") or raw["id"])[:200],
            "name": str(raw.get("name") or "")[:300],
            "hypothesis": raw.get("description") or "",
            "status": status,
            "started_at": started,
            "ended_at": ended,
            "primary_metric": str((metrics[0] or {}).get("name") or "")[:200] if metrics else "",
            "traffic_split": {v["key"]: float(v.get("rollout_percentage") or 0) / 100 for v in variants},
        }
        children = [
            {
                "key": str(v["key"])[:100],
                "name": str(v.get("name") or v["key"])[:200],
                "is_control": v["key"] == "control",
                "weight": float(v.get("rollout_percentage") or 0) / 100,
            }
            for v in variants
        ]
        kids: list[tuple[str, list[dict[str, Any]], str]] = [("signals.Variant", children, "experiment")]
        if results:
            kids.append(("signals.ExperimentResult", results, "experiment"))
        return Record("signals.Experiment", str(raw["id"]), with_product(values, product), kids)

    # -- flags

    def _flags(self, state: dict[str, Any], product: int | None) -> Iterator[Page]:
        seen_until = utc(state.get("activity_until"))
        changes: dict[str, list[dict[str, Any]]] = {}
        newest = seen_until
        for payload in self._list("/feature_flags/activity", {"limit": 100}):
            entries = payload.get("results") or []
            for entry in entries:
                when = utc(entry.get("created_at"))
                if when is None or (seen_until is not None and when <= seen_until):
                    continue
                newest = when if newest is None or when > newest else newest
                change = self._change(entry, when)
                if change is not None:
                    changes.setdefault(str(entry.get("item_id")), []).append(change)
            oldest = utc(entries[-1].get("created_at")) if entries else None
            if seen_until is not None and (oldest is None or oldest <= seen_until):
                break  # newest first: everything further back was read by an earlier sync
        cursor = {"activity_until": newest.isoformat() if newest else None}
        pages = list(self._list("/feature_flags/", {"limit": 100}))
        for number, payload in enumerate(pages, start=1):
            records = [
                self._flag(f, changes.get(str(f["id"]), []), product)
                for f in payload.get("results") or []
                if not f.get("deleted")
            ]
            done = number == len(pages)
            yield Page(records, cursor if done else state or None, done=done)

    @staticmethod
    def _rollout(filters: dict[str, Any] | None) -> float | None:
        groups = (filters or {}).get("groups") or []
        if not groups:
            return None
        # A group without a rollout percentage releases to everyone it matches.
        return max(
            100.0 if g.get("rollout_percentage") is None else float(g["rollout_percentage"]) for g in groups
        )

    def _flag(self, raw: dict[str, Any], changes: list[dict[str, Any]], product: int | None) -> Record:
        values = {
            "key": str(raw["key"])[:200],
            "name": str(raw.get("name") or "")[:300],
            "enabled": bool(raw.get("active")),
            "rollout_pct": self._rollout(raw.get("filters")) or 0.0,
        }
        return Record(
            "signals.FeatureFlag",
            str(raw["id"]),
            with_product(values, product),
            [("signals.FlagChange", changes, "flag")],
        )

    def _change(self, entry: dict[str, Any], when: Any) -> dict[str, Any] | None:
        detail = entry.get("detail") or {}
        enabled: bool | None = None
        rollout: float | None = None
        said = []
        for change in detail.get("changes") or []:
            field = change.get("field")
            if field == "active":
                enabled = bool(change.get("after"))
                said.append("turned on" if enabled else "turned off")
            elif field == "filters":
                rollout = self._rollout(change.get("after"))
                said.append(f"rollout {rollout:g}%" if rollout is not None else "targeting changed")
            elif field:
                said.append(f"{field} changed")
        if entry.get("activity") == "created":
            said.insert(0, "created")
        if not said:
            return None
        return {
            "external_id": str(entry.get("id") or f"{entry.get('item_id')}@{when.isoformat()}")[:255],
            "changed_at": when,
            "description": f"{detail.get('name') or ''}: {', '.join(said)}"[:500],
            "enabled": enabled,
            "rollout_pct": rollout,
        }
