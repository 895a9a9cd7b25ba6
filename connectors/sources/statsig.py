"""Statsig: experiments, their groups and Pulse results per metric, from the Console API.

API (https://statsigapi.net/console/v1), with a Console API key in the ``STATSIG-API-KEY`` header and
``STATSIG-API-VERSION: 20240601``:
  - GET /experiments?page=&limit=: ``data`` (experiments: ``id``, ``hypothesis``, ``status`` setup /
    active / decision_made / abandoned / archived..., ``groups[]`` with ``id``, ``name``, ``size``,
    ``controlGroupID``, ``startTime``/``endTime``/``lastModifiedTime`` in epoch milliseconds,
    ``primaryMetrics[]``) and ``pagination`` (``itemsPerPage``, ``pageNumber``, ``totalItems``,
    ``nextPage``: the next page's path, null on the last);
  - GET /experiments/{id}/pulse_results?control=<group id>&test=<group id>: ``data.ds`` (the results
    day) and ``data.primaryMetrics[]``/``secondaryMetrics[]`` with ``metricID``, ``testMean``,
    ``controlMean``, ``testStd``, ``controlStd``, ``testUnits``, ``controlUnits``. One call per test
    group against the control.
Results land as ExperimentResult rows (one per group, metric and Pulse day), kind "continuous": n is the
group's units, the sum is mean x n and the sum of squares comes from the standard deviation. Statsig's
``*Std`` is the standard error of the mean (its documented example has testStd 0.75 for a mean of 61.6
over 1,669 units), so the per-unit sd is std x sqrt(n).
Incremental: the list has no "changed since" filter, so every sync pages through it; Pulse is read only
for experiments running now and for any modified since the last sync.
Rate limits: ~100 requests / 10 s and a 15-minute quota per project; over it the API answers 429 with
no rate-limit headers, so the client backs off exponentially with jitter, as Statsig asks.
Docs: https://docs.statsig.com/console-api/introduction (base URL, key, version, rate limits),
https://docs.statsig.com/api-reference/experiments/get-experiment (experiment object),
https://docs.statsig.com/api-reference/experiments/retrieve-pulse-results-beta (Pulse results).
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
API = "https://statsigapi.net/console/v1"
API_VERSION = "20240601"
STATUS = {
    "setup": "draft",
    "active": "running",
    "decision_made": "finished",
    "abandoned": "stopped",
    "archived": "finished",
    "experiment_stopped": "stopped",
    "assignment_stopped": "stopped",
}
WITH_RESULTS = {"running", "finished", "stopped"}


class StatsigConfigForm(forms.Form):
    api_key = forms.CharField(
        required=False,
        help_text=(
            "Project Settings > Keys & Environments > Console API key (a read-only one is enough; it starts "
            "with console-). Stored encrypted; leave blank to keep the stored one."
        ),
    )
    page_size = forms.IntegerField(min_value=1, max_value=100, initial=100, required=False)
    team_product_map = ProductMapField(
        help_text=(
            'Statsig team name -> product slug, e.g. {"Growth": "pulse"}. Other experiments get the '
            "connection's product."
        )
    )


@register
class StatsigConnector(Connector):
    kind = "statsig"
    label = "Statsig"
    family = "experiments"
    description = (
        "Experiments (hypothesis, status, groups and their split), and Pulse results per group and metric "
        "(units, mean, standard deviation), so verdicts compute on them."
    )
    docs_url = "https://docs.statsig.com/console-api/introduction"
    config_form = StatsigConfigForm
    secret_fields = ("api_key",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(secret_headers=("Authorization", "STATSIG-API-KEY"))
        return self._client

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        key = self.secrets.get("api_key", "")
        if not key:
            raise ConnectorError(
                "No Statsig Console API key is stored. Paste one in the connection's settings.",
                permanent=True,
            )
        headers = {"STATSIG-API-KEY": key, "STATSIG-API-VERSION": API_VERSION}
        return self.client.request(
            "GET", f"{API}{path}", params=params, headers=headers, expect_json=True
        ).json()

    def check(self) -> CheckResult:
        try:
            payload = self._get("/experiments", {"page": 1, "limit": 1})
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        total = (payload.get("pagination") or {}).get("totalItems", 0)
        return CheckResult(True, f"Connected to Statsig: {total} experiment(s).")

    def streams(self) -> list[str]:
        return [STREAM]

    def cursor_for_date(self, stream: str, since: Any) -> Any:
        return None  # the list is read whole; Pulse is re-read for running experiments anyway

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        if stream != STREAM:
            raise ConnectorError(f"Statsig has no stream {stream!r}.", permanent=True)
        products = resolve_products(self.config.get("team_product_map"))
        state = dict(cursor) if isinstance(cursor, dict) else {}
        watermark = int(state.get("watermark") or 0)
        high = int(state.get("high") or watermark)
        page = int(state.get("page") or 1)
        limit = int(self.config.get("page_size") or 100)
        while True:
            payload = self._get("/experiments", {"page": page, "limit": limit})
            experiments = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(experiments, list):
                raise ConnectorError("Statsig sent an experiment list without data.")
            records = []
            for experiment in experiments:
                modified = int(experiment.get("lastModifiedTime") or 0)
                status = STATUS.get(str(experiment.get("status")), "running")
                results: list[tuple[dict[str, Any], dict[str, Any]]] = []
                if status == "running" or (status in WITH_RESULTS and modified > watermark):
                    results = self._pulse(experiment)
                records.append(self._record(experiment, status, results, products))
                high = max(high, modified)
            if (payload.get("pagination") or {}).get("nextPage") and experiments:
                page += 1
                yield Page(records, {"watermark": watermark, "high": high, "page": page})
                continue
            yield Page(records, {"watermark": high}, done=True)
            return

    def _pulse(self, experiment: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(test group, Pulse data) for each test group with results."""
        control = experiment.get("controlGroupID")
        if not control:
            return []
        out = []
        for group in experiment.get("groups") or []:
            if not group.get("id") or group.get("id") == control:
                continue
            try:
                payload = self._get(
                    f"/experiments/{experiment['id']}/pulse_results",
                    {"control": control, "test": group["id"]},
                )
            except ConnectorError as exc:
                if "HTTP 404" in exc.message or "HTTP 400" in exc.message:  # no Pulse computed yet
                    continue
                raise
            data = payload.get("data") if isinstance(payload, dict) else None
            if isinstance(data, dict):
                out.append((group, data))
        return out

    def _record(
        self,
        experiment: dict[str, Any],
        status: str,
        results: list[tuple[dict[str, Any], dict[str, Any]]],
        products: dict[str, int],
    ) -> Record:
        control_id = experiment.get("controlGroupID")
        groups = experiment.get("groups") or []
        variants = [
            {
                "key": _group_key(g),
                "name": str(g.get("name") or "")[:200],
                "is_control": bool(control_id) and g.get("id") == control_id,
                "weight": float(g.get("size") or 0) / 100,
            }
            for g in groups
        ]
        primary = experiment.get("primaryMetrics") or []
        values: dict[str, Any] = {
            "key": str(experiment["id"])[:200],
            "name": str(experiment.get("name") or experiment["id"])[:300],
            "hypothesis": str(experiment.get("hypothesis") or experiment.get("description") or ""),
            "status": status,
            "started_at": _millis(experiment.get("startTime")),
            "ended_at": _millis(experiment.get("endTime")) if status in ("finished", "stopped") else None,
            # Pulse names a metric "<name>::<type>" (metricID), the experiment lists {name, type}.
            "primary_metric": _metric_id(primary[0] or {}) if primary else "",
            "traffic_split": {v["key"]: v["weight"] for v in variants},
        }
        children: list[tuple[str, list[dict[str, Any]], str]] = [
            ("signals.Variant", variants, "experiment_id")
        ]
        control = next((g for g in groups if control_id and g.get("id") == control_id), None)
        rows = self._result_rows(control, results) if control is not None else []
        if rows:
            children.append(("signals.ExperimentResult", rows, "experiment_id"))
        owner = experiment.get("team")  # Enterprise projects: the owning team, as a name or an object
        team = str((owner.get("name") if isinstance(owner, dict) else owner) or "")
        return Record(
            "signals.Experiment", str(experiment["id"]), with_product(values, products.get(team)), children
        )

    @staticmethod
    def _result_rows(
        control: dict[str, Any], results: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        rows: dict[tuple[str, str, Any], dict[str, Any]] = {}
        for group, data in results:
            day = utc(data.get("ds"))
            if day is None:
                continue
            for metric in [*(data.get("primaryMetrics") or []), *(data.get("secondaryMetrics") or [])]:
                metric_id = str(metric.get("metricID") or "")[:200]
                if not metric_id:
                    continue
                for who, side in ((control, "control"), (group, "test")):
                    n = float(metric.get(f"{side}Units") or 0)
                    mean = metric.get(f"{side}Mean")
                    if n <= 0 or mean is None:
                        continue
                    sd = float(metric.get(f"{side}Std") or 0) * math.sqrt(n)
                    mean = float(mean)
                    rows[(_group_key(who), metric_id, day.date())] = {
                        "variant_id": Sibling("key", _group_key(who)),
                        "metric_key": metric_id,
                        "kind": "continuous",
                        "date": day.date(),
                        "exposures": int(n),
                        "conversions": None,
                        "value_sum": mean * n,
                        "value_sum_squares": (n - 1) * sd * sd + n * mean * mean,
                    }
        return list(rows.values())


def _metric_id(metric: dict[str, Any]) -> str:
    name, kind = str(metric.get("name") or ""), str(metric.get("type") or "")
    return (f"{name}::{kind}" if name and kind else name)[:200]


def _group_key(group: dict[str, Any]) -> str:
    return str(group.get("name") or group.get("id") or "group")[:100]


def _millis(value: Any) -> Any:
    """Statsig's times are epoch milliseconds."""
    if value in (None, ""):
        return None
    return utc(float(value) / 1000)
