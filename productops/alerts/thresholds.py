"""A rule's metric threshold: the metric's latest daily value crossing a line raises an insight.

The insight (kind `metric_threshold`) is keyed by the rule and the day the breach began, so a breach
that ends and comes back is a new insight (and a new alert), while a breach that goes on updates one.
When the metric is back within the threshold, the open insight is resolved.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from insights.kinds import MetricThresholdPayload
from insights.models import Insight, InsightStatus
from insights.services import upsert_insight
from productops.signals.models import MetricPoint

from .models import AlertRule, Comparator

WINDOW_DAYS = 35


def daily_values(metric_id: int, aggregation: str, now: dt.datetime) -> pd.Series:
    rows = MetricPoint.objects.filter(
        metric_id=metric_id,
        dimension_key="",
        dimension_value="",
        ts__gte=now - dt.timedelta(days=WINDOW_DAYS),
        ts__lte=now,
    ).values_list("ts", "value")
    frame = pd.DataFrame.from_records(list(rows), columns=["ts", "value"])
    if frame.empty:
        return pd.Series(dtype=float)
    frame["day"] = pd.to_datetime(frame["ts"], utc=True).dt.date
    how = {"sum": "sum", "mean": "mean", "last": "last"}.get(aggregation, "sum")
    return frame.sort_values("ts").groupby("day")["value"].agg(how).sort_index()


def check_threshold(rule: AlertRule, now: dt.datetime) -> Insight | None:
    """Raise, update or resolve the rule's threshold insight; return the open one, if any."""
    metric = rule.threshold_metric
    if metric is None or rule.threshold is None or rule.comparator not in Comparator.values:
        return None
    series = daily_values(metric.pk, metric.aggregation, now)
    prefix = f"threshold:{rule.pk}:"
    open_rows = Insight.objects.filter(
        kind="metric_threshold", key__startswith=prefix, status=InsightStatus.NEW
    )
    if series.empty:
        return None
    breached = series > rule.threshold if rule.comparator == Comparator.ABOVE else series < rule.threshold
    if not bool(breached.iloc[-1]):
        open_rows.update(status=InsightStatus.RESOLVED)
        return None
    # The breach began on the first day of the final run of breached days.
    start = series.index[-1]
    for day, hit in zip(reversed(series.index), reversed(breached.to_numpy()), strict=True):
        if not hit:
            break
        start = day
    value = float(series.iloc[-1])
    word = "rose above" if rule.comparator == Comparator.ABOVE else "fell below"
    payload = MetricThresholdPayload(
        rule_id=rule.pk,
        metric_id=metric.pk,
        metric=metric.name,
        comparator=rule.comparator,
        threshold=rule.threshold,
        value=value,
        day=series.index[-1].isoformat(),
        since=start.isoformat(),
        recent=[[d.isoformat(), float(v)] for d, v in series.items()],
    )
    insight, _ = upsert_insight(
        "metric_threshold",
        f"{prefix}{start.isoformat()}",
        title=f"{metric.name} {word} {rule.threshold:,.4g} ({value:,.4g} on {series.index[-1]:%d %b})",
        summary=f"Threshold set by the alert rule “{rule.name}”.",
        severity=rule.min_severity,
        score=abs(value - rule.threshold),
        product=metric.product,
        starts_at=dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
        payload=payload,
    )
    return insight
