from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from insights.models import InsightKind
from productops.accounts.roles import pm_required, role_of
from productops.portfolio.models import Product
from productops.signals.models import Metric
from productops.ui.cache import cached
from productops.ui.charts import chart_context
from productops.ui.filters import Choice, Filters, Int, Param, filter_bar_context, parse_filters
from productops.ui.stamp import page_stamp

from . import selectors
from .explorer import build_explorer, explorer_state
from .figures import GRANULARITIES, sparkline
from .tables import DRILL_PARAMS, TABLES, csv_rows, table_queryset


def _tiles_with_charts(tiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for tile in tiles:
        for card in tile["cards"]:
            metric = card["metric"]
            alt = f"{metric.name}, last {len(card['spark_x'])} days"
            card["chart"] = chart_context(
                sparkline(card["spark_x"], card["spark_y"], card["anomalies"]),
                alt,
                chart_id=f"spark-{metric.pk}",
            )
    return tiles


def _dashboard_context(request: HttpRequest, product: Product | None = None) -> dict[str, Any]:
    filters = parse_filters(request)
    if product is not None:
        filters.product = product
    version = page_stamp(request).version
    product_list = selectors.products(filters)
    tiles = cached(
        "kpis",
        (filters.querystring(), filters.end),
        lambda: selectors.kpi_tiles(filters, product_list),
        version,
    )
    return {
        **filter_bar_context(filters),
        "tiles": _tiles_with_charts(tiles),
        "incidents": selectors.open_insights(filters, [InsightKind.INCIDENT, InsightKind.ANOMALY]),
        "themes": selectors.open_insights(filters, [InsightKind.THEME], limit=5),
        "overlaps": selectors.open_insights(filters, [InsightKind.OVERLAP], limit=5),
        "verdicts": selectors.open_insights(
            filters, [InsightKind.EXPERIMENT_VERDICT, InsightKind.NPS_SHIFT], limit=5
        ),
        "nps": selectors.nps_summary(filters),
        "connectors": selectors.connector_health(),
        "has_products": bool(product_list),
    }


def _cached_page(
    request: HttpRequest, name: str, title: str, template: str, build: Callable[[], dict[str, Any]]
) -> HttpResponse:
    """Render a dashboard's body once per (data version, URL, role, connector state) and reuse it.

    The body holds no per-user data (no CSRF token, no user name), so every PM with the same URL shares
    it; base.html around it is rendered per request. Syncs, recomputes and triage bump the data
    version, and any connector change moves the page stamp (`productops.ui.stamp`), so a cached body is never stale.
    """
    stamp = page_stamp(request)
    parts = (request.get_full_path(), role_of(request.user), stamp.connections_key)
    body = cached(
        f"page:{name}", parts, lambda: render_to_string(template, build(), request=request), stamp.version
    )
    return render(request, "dashboards/page.html", {"title": title, "body": mark_safe(body)})  # noqa: S308


@pm_required
def overview(request: HttpRequest) -> HttpResponse:
    return _cached_page(
        request, "overview", "Overview", "dashboards/_overview_body.html", lambda: _dashboard_context(request)
    )


@pm_required
def product_page(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)

    def build() -> dict[str, Any]:
        context = _dashboard_context(request, product)
        context["product"] = product
        context["teams"] = list(product.teams.all())
        context["in_progress"] = selectors.items_in_progress(product)
        context["ops"] = selectors.operations(product, context["filters"])
        return context

    return _cached_page(
        request, f"product:{product.pk}", product.name, "dashboards/_overview_body.html", build
    )


@pm_required
def explorer(request: HttpRequest) -> HttpResponse:
    def build() -> dict[str, Any]:
        filters = parse_filters(request, params=EXPLORER_PARAMS)
        state = explorer_state(filters)
        chart = build_explorer(filters, state) if state["metrics"] else None
        metrics = Metric.objects.select_related("product").order_by("product__name", "name")
        if filters.product:
            metrics = metrics.filter(product=filters.product)
        return {**filter_bar_context(filters), "state": state, "chart": chart, "all_metrics": metrics}

    return _cached_page(request, "explorer", "Metrics explorer", "dashboards/_explorer_body.html", build)


EXPLORER_PARAMS = {
    "metric": Int(multi=True),
    "granularity": Choice(values=tuple(GRANULARITIES)),
    "breakdown": Param(max_length=100),
    "compare": Choice(values=("previous",)),
}


def _drill_params(filters: Filters) -> dict[str, str]:
    return {k: filters.get(k) for k in DRILL_PARAMS if k in filters.extra}


@pm_required
def rows(request: HttpRequest, table: str) -> HttpResponse:
    spec = TABLES.get(table)
    if spec is None:
        raise Http404("No such table")
    filters = parse_filters(request, params=DRILL_PARAMS)
    params = _drill_params(filters)
    qs = table_queryset(spec, filters, params)
    page = Paginator(qs, 50).get_page(filters.get("page", "1"))
    sort = params.get("sort", spec.default_sort)
    columns = [
        {
            "header": c.header,
            "sort": c.path if sort != c.path else f"-{c.path}",
            "active": sort.lstrip("-") == c.path,
            "desc": sort.startswith("-"),
        }
        for c in spec.columns
    ]
    return render(
        request,
        "dashboards/rows.html",
        {
            **filter_bar_context(filters),
            "table": spec,
            "columns": columns,
            "page_obj": page,
            "querystring_without_page": filters.querystring(page=None),
            "export_url": f"{reverse('dashboards:export', args=[table])}?{filters.querystring(page=None)}",
            "params": params,
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@pm_required
def export(request: HttpRequest, table: str) -> StreamingHttpResponse:
    spec = TABLES.get(table)
    if spec is None:
        raise Http404("No such table")
    filters = parse_filters(request, params=DRILL_PARAMS)
    qs = table_queryset(spec, filters, _drill_params(filters))
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(r) for r in csv_rows(spec, qs)), content_type="text/csv"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="productops-{table}-{filters.start}-{filters.end}.csv"'
    )
    return response
