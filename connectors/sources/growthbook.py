"""GrowthBook: experiments, their variations and per-variation results, from the REST API.

API (docs.growthbook.io/api), on GrowthBook Cloud (https://api.growthbook.io) or a self-hosted API
host, with a secret key as a bearer token:
  - GET /api/v1/experiments?limit=&offset= (optionally projectId=): ``experiments`` plus the pagination
    fields ``limit``, ``offset``, ``count``, ``total``, ``hasMore``, ``nextOffset``;
  - GET /api/v1/experiments/{id}/results: ``result.results[]`` per dimension ("All" is the overall),
    each with ``metrics[].variations[]`` holding ``users`` and ``analyses[]`` (``numerator``,
    ``denominator``, ``mean``, ``stddev``); ``result.dateUpdated`` is the snapshot's time.
Incremental: the list has no "changed since" filter, so every sync pages through it (one request per
100 experiments; the upsert rewrites only what changed) and asks for results only where they can have
moved: experiments running now, and any updated since the newest ``dateUpdated`` of the last sync.
Results are cumulative, one row per variation, metric and snapshot day.
Rate limits: a 429 is retried after its Retry-After (or RateLimit-Reset) header when one is sent, else
with backoff. A self-hosted API on a private network needs its range in CONNECTOR_ALLOWED_NETWORKS.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, Sibling, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product

STREAM = "experiments"
STATUS = {"draft": "draft", "running": "running", "stopped": "stopped"}


class GrowthBookConfigForm(forms.Form):
    api_host = forms.URLField(
        initial="https://api.growthbook.io",
        assume_scheme="https",
        help_text=(
            "https://api.growthbook.io for GrowthBook Cloud; your API_HOST if self-hosted (e.g. "
            "https://growthbook-api.acme.com). A private address must be allowed in CONNECTOR_ALLOWED_NETWORKS."
        ),
    )
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Settings > API Keys > New secret key (read-only is enough; it starts with secret_). Stored "
            "encrypted; leave blank to keep the stored one."
        ),
    )
    project_id = forms.CharField(
        max_length=100, required=False, help_text="Only this GrowthBook project (prj_...); blank for all."
    )
    page_size = forms.IntegerField(min_value=1, max_value=100, initial=100, required=False)
    product_map = ProductMapField(
        help_text=(
            'GrowthBook project id -> product slug, e.g. {"prj_abc123": "web-app"}. Other experiments get '
            "the connection's product."
        )
    )


@register
class GrowthBookConnector(Connector):
    kind = "growthbook"
    label = "GrowthBook"
    family = "experiments"
    description = (
        "Experiments (hypothesis, status, phases, traffic split, goal metric), their variations, and "
        "per-variation results (users, conversions or sums) for each metric."
    )
    docs_url = "https://docs.growthbook.io/api#tag/experiments"
    config_form = GrowthBookConfigForm
    secret_fields = ("api_key",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("RateLimit-Reset", "X-RateLimit-Reset"))
        return self._client

    @property
    def base(self) -> str:
        return str(self.config.get("api_host") or "https://api.growthbook.io").rstrip("/") + "/api/v1"

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        key = self.secrets.get("api_key", "")
        if not key:
            raise ConnectorError(
                "No GrowthBook secret key is stored. Paste one in the connection's settings.", permanent=True
            )
        headers = {"Authorization": f"Bearer {key}"}
        return self.client.request(
            "GET", f"{self.base}{path}", params=params, headers=headers, expect_json=True
        ).json()

    def check(self) -> CheckResult:
        try:
            payload = self._get("/experiments", {"limit": 1})
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"Connected to GrowthBook: {payload.get('total', 0)} experiment(s).")

    def streams(self) -> list[str]:
        return [STREAM]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        watermark = str(state.get("watermark") or "")
        high = str(state.get("high") or watermark)
        offset = int(state.get("offset") or 0)
        limit = int(self.config.get("page_size") or 100)
        while True:
            params: dict[str, Any] = {"limit": limit, "offset": offset}
            if self.config.get("project_id"):
                params["projectId"] = self.config["project_id"]
            payload = self._get("/experiments", params)
            if not isinstance(payload, dict) or not isinstance(payload.get("experiments"), list):
                raise ConnectorError("GrowthBook sent an experiment list without experiments.")
            records = []
            for experiment in payload["experiments"]:
                updated = str(experiment.get("dateUpdated") or "")
                changed = not watermark or _after(updated, watermark)
                results = None
                if experiment.get("status") == "running" or (changed and experiment.get("status") != "draft"):
                    results = self._results(experiment["id"])
                records.append(self._record(experiment, results, products))
                if updated and (not high or _after(updated, high)):
                    high = updated
            following = payload.get("nextOffset")
            if payload.get("hasMore") and following is not None and int(following) > offset:
                offset = int(following)
                yield Page(records, {"watermark": watermark, "high": high, "offset": offset})
                continue
            yield Page(records, {"watermark": high}, done=True)
            return

    def _results(self, experiment_id: str) -> dict[str, Any] | None:
        try:
            payload = self._get(f"/experiments/{experiment_id}/results")
        except ConnectorError as exc:
            if "HTTP 404" in exc.message:  # no analysis has run yet
                return None
            raise
        result = payload.get("result") if isinstance(payload, dict) else None
        return result if isinstance(result, dict) else None

    def _record(
        self, experiment: dict[str, Any], result: dict[str, Any] | None, products: dict[str, int]
    ) -> Record:
        variations = experiment.get("variations") or []
        phases = experiment.get("phases") or []
        last = phases[-1] if phases else {}
        weights = {s.get("variationId"): float(s.get("weight") or 0) for s in last.get("trafficSplit") or []}
        key_of = {v.get("variationId"): str(v.get("key") or v.get("variationId")) for v in variations}
        variants = [
            {
                "key": key_of[v.get("variationId")][:100],
                "name": str(v.get("name") or "")[:200],
                "is_control": i == 0,
                "weight": weights.get(v.get("variationId"), 1.0 / max(1, len(variations))),
            }
            for i, v in enumerate(variations)
        ]
        settings = experiment.get("settings") or {}
        goals = settings.get("goals") or []
        status = STATUS.get(str(experiment.get("status")), "running")
        values: dict[str, Any] = {
            "key": str(experiment.get("trackingKey") or settings.get("trackingKey") or experiment["id"])[
                :200
            ],
            "name": str(experiment.get("name") or experiment["id"])[:300],
            "hypothesis": str(experiment.get("hypothesis") or ""),
            "status": status,
            "started_at": utc(phases[0].get("dateStarted")) if phases else None,
            "ended_at": utc(last.get("dateEnded")) if status == "stopped" and last.get("dateEnded") else None,
            "primary_metric": str(goals[0].get("metricId") or "")[:200] if goals else "",
            "traffic_split": {v["key"]: v["weight"] for v in variants},
        }
        children: list[tuple[str, list[dict[str, Any]], str]] = [
            ("signals.Variant", variants, "experiment_id")
        ]
        if result:
            children.append(("signals.ExperimentResult", self._result_rows(result, key_of), "experiment_id"))
        product = products.get(str(experiment.get("project") or ""))
        return Record("signals.Experiment", str(experiment["id"]), with_product(values, product), children)

    @staticmethod
    def _result_rows(result: dict[str, Any], key_of: dict[Any, str]) -> list[dict[str, Any]]:
        day = utc(result.get("dateUpdated") or result.get("dateEnd"))
        overall = next((r for r in result.get("results") or [] if r.get("dimension") == "All"), None)
        if day is None or overall is None:
            return []
        rows = []
        for metric in overall.get("metrics") or []:
            for variation in metric.get("variations") or []:
                analysis = (variation.get("analyses") or [{}])[0]
                n = float(variation.get("users") or analysis.get("denominator") or 0)
                numerator = float(analysis.get("numerator") or 0)
                mean = float(analysis.get("mean") or 0)
                sd = float(analysis.get("stddev") or 0)
                # A proportion metric's stddev is sqrt(p(1-p)); anything else is a continuous metric.
                is_conversion = 0 <= mean <= 1 and math.isclose(
                    sd, math.sqrt(mean * (1 - mean)), abs_tol=1e-6
                )
                key = key_of.get(variation.get("variationId"))
                if key is None:
                    continue
                rows.append(
                    {
                        "variant_id": Sibling("key", key[:100]),
                        "metric_key": str(metric.get("metricId"))[:200],
                        "kind": "conversion" if is_conversion else "continuous",
                        "date": day.date(),
                        "exposures": int(n),
                        "conversions": round(numerator) if is_conversion else None,
                        "value_sum": None if is_conversion else numerator,
                        # sum of squares from the sample sd: (n-1) sd^2 + n mean^2
                        "value_sum_squares": None if is_conversion else (n - 1) * sd * sd + n * mean * mean,
                    }
                )
        return rows


def _after(a: str, b: str) -> bool:
    left, right = utc(a), utc(b)
    return bool(left and right and left > right)
