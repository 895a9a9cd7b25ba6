"""Event-level scoring of detected anomalies against a planted ground truth (the demo seeder's format)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from insights.models import Insight, InsightKind
from productops.signals.models import Metric

# A detection may start a day early (a partial first day) or late (drifts are seen when they add up).
EARLY = timedelta(days=1)


@dataclass
class Score:
    true_positives: int = 0
    planted: int = 0
    detected: int = 0
    false_positives: int = 0
    clean_false_alarms: int = 0
    clean_series_years: float = 0.0
    missed: list[dict[str, Any]] = field(default_factory=list)
    false: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.true_positives / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        judged = self.detected
        return (judged - self.false_positives) / judged if judged else 1.0

    @property
    def false_alarms_per_series_year(self) -> float:
        return self.clean_false_alarms / self.clean_series_years if self.clean_series_years else 0.0


def _series_key(metric_ids: dict[tuple[str, str], int], entry: dict[str, Any]) -> str | None:
    metric_id = metric_ids.get((entry["product"], entry["metric"]))
    if metric_id is None:
        return None
    dim = f"{entry['dimension_key']}={entry['dimension_value']}" if entry["dimension_key"] else ""
    return f"metric:{metric_id}:{dim}"


def score_metric_anomalies(truth: dict[str, Any], warmup_days: int = 21) -> Score:
    """Match metric anomaly Insights to truth["anomalies"]; "incidental" windows are neither hit nor miss."""
    metric_ids = {
        (slug, key): pk for pk, slug, key in Metric.objects.values_list("pk", "product__slug", "key")
    }
    events: dict[str, list[tuple[date, date, str]]] = {}
    for key, payload, starts, ends in Insight.objects.filter(
        kind=InsightKind.ANOMALY, key__startswith="metric:"
    ).values_list("key", "payload", "starts_at", "ends_at"):
        if starts is not None and ends is not None:
            events.setdefault(payload["series_id"], []).append((starts.date(), ends.date(), key))

    def overlapping(series: str, entry: dict[str, Any]) -> list[str]:
        lo = date.fromisoformat(entry["start"]) - EARLY
        hi = date.fromisoformat(entry["end"])
        return [k for s, e, k in events.get(series, []) if s <= hi and e >= lo]

    result = Score()
    explained: set[str] = set()
    for entry in truth["anomalies"]:
        series = _series_key(metric_ids, entry)
        if series is None:
            continue
        result.planted += 1
        hits = overlapping(series, entry)
        if hits:
            result.true_positives += 1
            explained.update(hits)
        else:
            result.missed.append(entry)
    for entry in truth.get("incidental", []):
        series = _series_key(metric_ids, entry)
        if series is not None:
            explained.update(overlapping(series, entry))

    judged = (
        {_series_key(metric_ids, e) for e in truth["anomalies"]}
        | {_series_key(metric_ids, e) for e in truth["clean_series"]}
        | {_series_key(metric_ids, e) for e in truth.get("incidental", [])}
    )
    clean = {_series_key(metric_ids, e) for e in truth["clean_series"]}
    for series, found in events.items():
        if series not in judged:
            continue
        for _, _, key in found:
            result.detected += 1
            if key not in explained:
                result.false_positives += 1
                result.false.append(key)
                if series in clean:
                    result.clean_false_alarms += 1
    days = (date.fromisoformat(truth["end_date"]) - date.fromisoformat(truth["start_date"])).days + 1
    result.clean_series_years = len(clean) * max(days - warmup_days, 1) / 365.25
    return result
