"""Reads for the dashboards. Every function runs a fixed number of queries, whatever the data size,
and reads the daily rollups rather than raw rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pandas as pd
from django.db.models import Count, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection
from insights.models import Insight, InsightKind, InsightStatus
from productops.portfolio.models import PortfolioItem, Product, StatusCategory
from productops.signals.models import Experiment, FlagChange, Metric, NpsResponse, OpsIncident, Release
from productops.ui.filters import Filters

from .models import MetricDaily

HEADLINE_PER_PRODUCT = 4
OPEN = [InsightStatus.NEW, InsightStatus.ACKNOWLEDGED]


def products(filters: Filters) -> list[Product]:
    qs = Product.objects.order_by("name")
    if filters.product:
        qs = qs.filter(pk=filters.product.pk)
    if filters.team:
        qs = qs.filter(teams=filters.team)
    return list(qs)


def headline_metrics(product_ids: list[int]) -> dict[int, list[Metric]]:
    """The first few metrics of each product, by name; one query."""
    by_product: dict[int, list[Metric]] = defaultdict(list)
    for metric in Metric.objects.filter(product_id__in=product_ids).order_by("product_id", "name"):
        if len(by_product[metric.product_id]) < HEADLINE_PER_PRODUCT:  # type: ignore[index]
            by_product[metric.product_id].append(metric)  # type: ignore[index]
    return by_product


def daily_frame(
    metric_ids: list[int], start: date, end: date, dimension_key: str = "", dimension_value: str | None = ""
) -> pd.DataFrame:
    """Long frame (metric_id, dimension_value, day, value) from the rollups; one query."""
    qs = MetricDaily.objects.filter(
        metric_id__in=metric_ids, day__gte=start, day__lte=end, dimension_key=dimension_key
    )
    if dimension_value is not None:
        qs = qs.filter(dimension_value=dimension_value)
    rows = list(qs.values_list("metric_id", "dimension_value", "day", "value"))
    frame = pd.DataFrame(rows, columns=["metric_id", "dimension_value", "day", "value"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def latest_day(metric_ids: list[int]) -> date | None:
    return MetricDaily.objects.filter(metric_id__in=metric_ids).aggregate(d=Max("day"))["d"]


def _change(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then == 0:
        return None
    return (now - then) / abs(then)


def anomaly_days(metric_ids: list[int], start: date, end: date) -> dict[int, list[date]]:
    """Days with an open anomaly insight per metric (payload carries metric_id); one query."""
    out: dict[int, list[date]] = defaultdict(list)
    qs = Insight.objects.filter(
        kind=InsightKind.ANOMALY, payload__metric_id__in=metric_ids, starts_at__date__lte=end
    ).filter(Q(ends_at__isnull=True) | Q(ends_at__date__gte=start))
    for payload, starts_at in qs.values_list("payload", "starts_at"):
        if starts_at:
            out[int(payload["metric_id"])].append(timezone.localdate(starts_at))
    return out


def kpi_tiles(filters: Filters, product_list: list[Product]) -> list[dict[str, Any]]:
    """Per product: each headline metric's latest value, change vs last week and last year, a sparkline."""
    metrics_by_product = headline_metrics([p.pk for p in product_list])
    metric_ids = [m.pk for ms in metrics_by_product.values() for m in ms]
    if not metric_ids:
        return []
    end = latest_day(metric_ids) or filters.end
    spark_start = min(filters.start, end - timedelta(days=89))
    frame = daily_frame(metric_ids, end - timedelta(days=371), end)
    marks = anomaly_days(metric_ids, spark_start, end)
    series = {mid: g.set_index("day")["value"] for mid, g in frame.groupby("metric_id")}
    tiles = []
    for product in product_list:
        cards = []
        for metric in metrics_by_product.get(product.pk, []):
            # A metric with only dimensioned points has no total: its card shows no value, not an error.
            s = series.get(metric.pk, pd.Series(dtype=float, index=pd.DatetimeIndex([])))
            value = _at(s, end)
            spark = s[s.index >= pd.Timestamp(spark_start)]
            cards.append(
                {
                    "metric": metric,
                    "value": value,
                    "wow": _change(value, _at(s, end - timedelta(days=7))),
                    "yoy": _change(value, _at(s, end - timedelta(days=364))),
                    "spark_x": [d.date().isoformat() for d in spark.index],
                    "spark_y": [float(v) for v in spark.to_numpy()],
                    "anomalies": [d.isoformat() for d in marks.get(metric.pk, []) if d >= spark_start],
                }
            )
        tiles.append({"product": product, "cards": cards, "as_of": end})
    return tiles


def _at(series: pd.Series, day: date) -> float | None:
    value = series.get(pd.Timestamp(day))
    return None if value is None or pd.isna(value) else float(value)


def open_insights(filters: Filters, kinds: list[str], limit: int = 8) -> list[Insight]:
    qs = Insight.objects.filter(kind__in=kinds, status__in=OPEN).select_related("product", "team")
    # Only what overlaps the date range: an anomaly from last year is not news this quarter.
    qs = qs.filter(
        Q(ends_at__date__gte=filters.start)
        | Q(ends_at__isnull=True, starts_at__date__gte=filters.start)
        | Q(ends_at__isnull=True, starts_at__isnull=True, detected_at__date__gte=filters.start)
    ).filter(Q(starts_at__isnull=True) | Q(starts_at__date__lte=filters.end))
    # Every product and team an insight concerns (both teams of an overlap, every owner of a product).
    if filters.product:
        qs = qs.filter(products=filters.product)
    if filters.team:
        qs = qs.filter(teams=filters.team)
    return list(qs.order_by("-severity", "-detected_at")[:limit])


def nps_summary(filters: Filters) -> dict[str, Any]:
    """NPS over the filter window and the window before it; one query."""
    length = timedelta(days=filters.days)
    start = filters.start
    prev_start = start - length
    qs = NpsResponse.objects.filter(submitted_at__date__gte=prev_start, submitted_at__date__lte=filters.end)
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:  # responses have no team: the team's products
        qs = qs.filter(product__teams=filters.team)
    agg = qs.aggregate(
        n=Count("id", filter=Q(submitted_at__date__gte=start)),
        pro=Count("id", filter=Q(submitted_at__date__gte=start, score__gte=9)),
        det=Count("id", filter=Q(submitted_at__date__gte=start, score__lte=6)),
        pn=Count("id", filter=Q(submitted_at__date__lt=start)),
        ppro=Count("id", filter=Q(submitted_at__date__lt=start, score__gte=9)),
        pdet=Count("id", filter=Q(submitted_at__date__lt=start, score__lte=6)),
    )
    nps = 100 * (agg["pro"] - agg["det"]) / agg["n"] if agg["n"] else None
    prev = 100 * (agg["ppro"] - agg["pdet"]) / agg["pn"] if agg["pn"] else None
    return {
        "nps": nps,
        "previous": prev,
        "change": None if nps is None or prev is None else nps - prev,
        "responses": agg["n"],
    }


def recent_experiments(filters: Filters, limit: int = 5) -> QuerySet[Experiment]:
    qs = Experiment.objects.select_related("product", "team")
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(team=filters.team)
    return qs.order_by("-started_at")[:limit]


def connector_health() -> list[dict[str, Any]]:
    """Each connection with its state (`Connection.health`: ok, failing, stale, paused or pending)."""
    now = timezone.now()
    return [
        {"connection": conn, "state": conn.health(now).value} for conn in Connection.objects.order_by("name")
    ]


def items_in_progress(product: Product, limit: int = 20) -> list[PortfolioItem]:
    return list(
        PortfolioItem.objects.filter(
            product=product, status_category=StatusCategory.IN_PROGRESS, is_gone=False
        )
        .select_related("team")
        .order_by("team__name", "target_date")[:limit]
    )


def operations(product: Product, filters: Filters, limit: int = 8) -> dict[str, list[Any]]:
    """On-call incidents, new or regressed errors and releases of one product in the window (product page).

    Three bounded queries whatever the data size: each list is capped at `limit`, newest first.
    """
    from productops.signals.models import ErrorIssue

    start, end = filters.start, filters.end
    incidents = OpsIncident.objects.filter(
        product=product, opened_at__date__gte=start, opened_at__date__lte=end
    ).order_by("-opened_at")[:limit]
    errors = (
        ErrorIssue.objects.filter(product=product, last_seen__date__gte=start, first_seen__date__lte=end)
        .filter(Q(first_seen__date__gte=start) | Q(substatus="regressed"))
        .order_by("-events", "-first_seen")[:limit]
    )
    releases = Release.objects.filter(
        product=product, released_at__date__gte=start, released_at__date__lte=end
    ).order_by("-released_at")[:limit]
    return {"incidents": list(incidents), "errors": list(errors), "releases": list(releases)}


def chart_annotations(
    metric_ids: list[int], product_ids: list[int], start: date, end: date
) -> list[dict[str, Any]]:
    """Anomalies, flag changes, experiment starts and releases in the window, for the explorer."""
    notes: list[dict[str, Any]] = []
    for day_list in anomaly_days(metric_ids, start, end).values():
        notes += [{"day": d, "kind": "anomaly", "text": "Anomaly"} for d in day_list]
    for changed_at, key, description in FlagChange.objects.filter(
        flag__product_id__in=product_ids, changed_at__date__gte=start, changed_at__date__lte=end
    ).values_list("changed_at", "flag__key", "description")[:50]:
        notes.append(
            {"day": timezone.localdate(changed_at), "kind": "flag", "text": f"Flag {key}: {description}"}
        )
    for started_at, name in Experiment.objects.filter(
        product_id__in=product_ids, started_at__date__gte=start, started_at__date__lte=end
    ).values_list("started_at", "name")[:50]:
        notes.append(
            {"day": timezone.localdate(started_at), "kind": "experiment", "text": f"Experiment: {name}"}
        )
    for done_at, title in PortfolioItem.objects.filter(
        product_id__in=product_ids,
        done_at__date__gte=start,
        done_at__date__lte=end,
        kind__in=["epic", "initiative"],
    ).values_list("done_at", "title")[:50]:
        notes.append({"day": timezone.localdate(done_at), "kind": "release", "text": f"Shipped: {title}"})
    for released_at, version in Release.objects.filter(
        product_id__in=product_ids, released_at__date__gte=start, released_at__date__lte=end
    ).values_list("released_at", "version")[:50]:
        notes.append(
            {"day": timezone.localdate(released_at), "kind": "release", "text": f"Released: {version}"}
        )
    return notes


def rows_url(table: str, filters: Filters, **params: Any) -> str:
    return f"{reverse('dashboards:rows', args=[table])}?{filters.querystring(**params)}"
