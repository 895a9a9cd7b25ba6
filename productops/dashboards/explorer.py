"""The metrics explorer: metrics, range, granularity, breakdown and comparison, all from the URL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from productops.signals.models import Metric
from productops.ui.cache import cached
from productops.ui.charts import chart_context
from productops.ui.filters import Filters

from . import selectors
from .figures import GRANULARITIES, explorer_figure, resample
from .models import MetricDaily

MAX_METRICS = 6
MAX_BREAKDOWN_VALUES = 8


def explorer_state(filters: Filters) -> dict[str, Any]:
    ids = filters.ints("metric")[:MAX_METRICS]
    metrics = list(Metric.objects.filter(pk__in=ids).select_related("product")) if ids else []
    granularity = (filters.extra.get("granularity") or ["day"])[0]
    if granularity not in GRANULARITIES:
        filters.errors.append(f"Unknown granularity '{granularity}'; showing days.")
        granularity = "day"
    breakdown = (filters.extra.get("breakdown") or [""])[0]
    dims = sorted({d for m in metrics for d in (m.dimensions or [])})
    if breakdown and breakdown not in dims:
        breakdown = ""
    return {
        "metrics": metrics,
        "metric_ids": [m.pk for m in metrics],
        "granularity": granularity,
        "granularities": list(GRANULARITIES),
        "breakdown": breakdown,
        "dimensions": dims,
        "compare": (filters.extra.get("compare") or [""])[0] == "previous",
    }


def _frame(metric_ids: list[int], filters: Filters, breakdown: str, shift: timedelta) -> pd.DataFrame:
    start, end = filters.start - shift, filters.end - shift
    qs = MetricDaily.objects.filter(
        metric_id__in=metric_ids, day__gte=start, day__lte=end, dimension_key=breakdown
    )
    rows = list(qs.values_list("metric_id", "dimension_value", "day", "value"))
    frame = pd.DataFrame(rows, columns=["metric_id", "dimension_value", "day", "value"])
    frame["day"] = pd.to_datetime(frame["day"]) + pd.Timedelta(shift)
    return frame


def build_explorer(filters: Filters, state: dict[str, Any]) -> dict[str, Any]:
    metrics: list[Metric] = state["metrics"]
    key = (filters.querystring(), filters.start, filters.end)
    return cached("explorer", key, lambda: _build(filters, state, metrics))


def _build(filters: Filters, state: dict[str, Any], metrics: list[Metric]) -> dict[str, Any]:
    breakdown, granularity = state["breakdown"], state["granularity"]
    by_id = {m.pk: m for m in metrics}
    periods = [(timedelta(0), "solid", "")]
    if state["compare"]:
        periods.append((timedelta(days=filters.days), "dot", " (previous period)"))
    traces: list[dict[str, Any]] = []
    table_rows: list[list[Any]] = []
    for shift, dash, suffix in periods:
        frame = _frame(state["metric_ids"], filters, breakdown, shift)
        if breakdown and not frame.empty:
            top = frame.groupby("dimension_value")["value"].sum().nlargest(MAX_BREAKDOWN_VALUES).index
            frame = frame[frame["dimension_value"].isin(top)]
        frame["series"] = list(zip(frame["metric_id"], frame["dimension_value"], strict=True))
        for (metric_id, dim_value), group in frame.groupby("series", sort=True):
            metric = by_id[metric_id]
            how = "sum" if metric.aggregation == "sum" else "mean"
            rolled = resample(group[["series", "day", "value"]], granularity, how).sort_values("day")
            name = metric.name + (f" · {breakdown}={dim_value}" if breakdown else "") + suffix
            if len(metrics) > 1 and metric.product:
                name = f"{metric.product.name}: {name}"
            days = [d.date() for d in rolled["day"]]
            urls = [
                selectors.rows_url(
                    "metric-points",
                    filters,
                    metric=metric_id,
                    dimension_key=breakdown,
                    dimension_value=dim_value or None,
                    day=(d - shift).isoformat() if granularity == "day" else None,
                )
                for d in days
            ]
            traces.append(
                {
                    "name": name,
                    "x": [d.isoformat() for d in days],
                    "y": [float(v) for v in rolled["value"]],
                    "urls": urls,
                    "dash": dash,
                }
            )
            if not shift:
                table_rows += [
                    [name, d.isoformat(), round(float(v), 4)]
                    for d, v in zip(days, rolled["value"], strict=True)
                ]
    product_ids = sorted({m.product_id for m in metrics if m.product_id})
    notes = selectors.chart_annotations(state["metric_ids"], product_ids, filters.start, filters.end)
    unit = metrics[0].get_unit_display() if len({m.unit for m in metrics}) == 1 else ""
    alt = f"{', '.join(m.name for m in metrics)} by {granularity}, {filters.start} to {filters.end}"
    return {
        "chart": chart_context(
            explorer_figure(traces, notes, unit),
            alt,
            ["Series", "Period", "Value"],
            table_rows,
            chart_id="explorer-chart",
        ),
        "notes": notes,
        "empty": not traces,
    }
