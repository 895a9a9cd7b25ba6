"""The REST API, /api/v1/: read what productops knows, triage insights, push metric points and feedback.

Built on django-ninja: typed schemas (schemas.py), OpenAPI 3 at /api/v1/openapi.json, the interactive
docs at /api/v1/docs served from our own static files. Every error is an RFC 9457 problem (problems.py);
lists use cursor pagination (pagination.py); auth is a personal token with the pages' role rules
(auth.py). The filters are the pages' own: each list reads its query string through `parse_filters`,
and a value a page would ignore with a message is a 422 here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from connectors.family_schemas import RecordError, coerce_payload, schema_for, write_records
from insights import kinds
from insights.models import Insight, InsightKind, InsightStatus, Severity
from insights.services import transition
from productops.accounts.roles import Role, role_of
from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.ingest import upsert
from productops.signals.models import Experiment, Metric, MetricPoint
from productops.signals.services import WriteScope, record_write
from productops.ui.filters import ALL_TIME, Choice, Filters, Int, Param, parse_filters

from . import schemas as s
from .auth import LEAD_WRITE, READ, WRITE
from .pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from .problems import PROBLEM_CONTENT_TYPE, ApiProblem, problem_response

log = logging.getLogger(__name__)
API_SOURCE_KEY = "api"


class ProductOpsApi(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Error responses are documented as application/problem+json, which is what they are."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for code, response in operation.get("responses", {}).items():
                    content = response.get("content") or {}
                    if str(code).startswith(("4", "5")) and "application/json" in content:
                        response["content"] = {PROBLEM_CONTENT_TYPE: content["application/json"]}
        return schema


api = ProductOpsApi(
    title="productops API",
    version="1",
    description=(
        "Read products, metrics and their series, insights, incidents, overlaps, themes, NPS, experiments "
        "and portfolio items; triage insights; push metric points and feedback. Authenticate with a "
        "personal API token from Settings → API tokens: `Authorization: Bearer po_…`. Errors are RFC 9457 "
        "problem details; lists are cursor-paginated (`next_cursor`). See docs/api.md."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


# --- Errors: one problem body for every status ----------------------------------------------------------


@api.exception_handler(ApiProblem)
def _on_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return problem_response(request, exc.status, exc.detail, errors=exc.errors, headers=exc.headers)


@api.exception_handler(ValidationError)
def _on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in exc.errors]
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    return problem_response(request, 422, f"The request is not valid: {where}.", errors=errors)


@api.exception_handler(AuthenticationError)
def _on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(
        request,
        401,
        "Send a personal API token as “Authorization: Bearer po_…”.",
        headers={"WWW-Authenticate": 'Bearer realm="productops"'},
    )


@api.exception_handler(Http404)
def _on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, 404, str(exc) or "Not found.")


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem_response(request, exc.status_code, str(exc))


@api.exception_handler(Exception)
def _on_crash(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API error on %s %s", request.method, request.path)
    return problem_response(request, 500, "Something went wrong on our side; it is logged.")


def not_found(detail: str) -> ApiProblem:
    return ApiProblem(404, detail)


# --- Filters: the pages' parser, strict ------------------------------------------------------------------


class Scope(Schema):
    """The pages' filter bar: product, team and a range (or from/to)."""

    product: str | None = None
    team: str | None = None
    range: str | None = None  # validated by the shared parser: 7d, 30d, 90d, 180d, 365d or all
    from_: date | None = s.Field(None, alias="from")
    to: date | None = None


def strict_filters(
    request: HttpRequest, params: Mapping[str, Param] | None = None, default_range: str = ALL_TIME
) -> Filters:
    """`parse_filters` as the pages call it; what a page would ignore with a message is a 422 here."""
    filters = parse_filters(request, params=params, default_range=default_range)
    if filters.errors:
        raise ApiProblem(
            422,
            " ".join(filters.errors),
            errors=[{"loc": ["query"], "msg": message} for message in filters.errors],
        )
    return filters


def _products_of(filters: Filters, field: str = "product") -> Q:
    q = Q()
    if filters.product:
        q &= Q(**{f"{field}": filters.product})
    if filters.team:
        q &= Q(**{f"{field}__teams": filters.team})
    return q


def _slug(obj: Any) -> str | None:
    return obj.slug if obj is not None else None


LIMIT = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
CURSOR = Query(None, max_length=40)


# --- Products and teams ----------------------------------------------------------------------------------


def _product_out(p: Product) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.name,
        "slug": p.slug,
        "description": p.description,
        "teams": [t.slug for t in p.teams.all()],
    }


@api.get(
    "/products",
    response={200: s.page_of(s.ProductOut, "ProductPage"), **s.ERRORS},
    auth=READ,
    tags=["portfolio"],
)
def list_products(request: HttpRequest, limit: int = LIMIT, cursor: str | None = CURSOR) -> Any:
    rows, nxt = paginate(Product.objects.prefetch_related("teams"), cursor, limit)
    return {"items": [_product_out(p) for p in rows], "next_cursor": nxt}


@api.get("/products/{slug}", response={200: s.ProductOut, **s.ERRORS}, auth=READ, tags=["portfolio"])
def get_product(request: HttpRequest, slug: str) -> Any:
    product = Product.objects.prefetch_related("teams").filter(slug=slug).first()
    if product is None:
        raise not_found(f"No product “{slug[:100]}”.")
    return _product_out(product)


@api.get(
    "/teams", response={200: s.page_of(s.TeamOut, "TeamPage"), **s.ERRORS}, auth=READ, tags=["portfolio"]
)
def list_teams(request: HttpRequest, limit: int = LIMIT, cursor: str | None = CURSOR) -> Any:
    rows, nxt = paginate(Team.objects.prefetch_related("products"), cursor, limit)
    items = [
        {"id": t.pk, "name": t.name, "slug": t.slug, "products": [p.slug for p in t.products.all()]}
        for t in rows
    ]
    return {"items": items, "next_cursor": nxt}


# --- Metrics and series ----------------------------------------------------------------------------------


def _metric_out(m: Metric) -> dict[str, Any]:
    return {
        "id": m.pk,
        "key": m.key,
        "name": m.name,
        "description": m.description,
        "product": _slug(m.product),
        "unit": m.unit,
        "good_direction": m.good_direction,
        "aggregation": m.aggregation,
        "dimensions": [str(d) for d in (m.dimensions or [])],
    }


@api.get(
    "/metrics", response={200: s.page_of(s.MetricOut, "MetricPage"), **s.ERRORS}, auth=READ, tags=["metrics"]
)
def list_metrics(
    request: HttpRequest,
    product: str | None = None,
    team: str | None = None,
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    filters = strict_filters(request)
    qs = Metric.objects.select_related("product").filter(_products_of(filters))
    rows, nxt = paginate(qs, cursor, limit)
    return {"items": [_metric_out(m) for m in rows], "next_cursor": nxt}


def _metric(metric_id: int) -> Metric:
    metric = Metric.objects.select_related("product").filter(pk=metric_id).first()
    if metric is None:
        raise not_found(f"No metric {metric_id}.")
    return metric


@api.get("/metrics/{metric_id}", response={200: s.MetricOut, **s.ERRORS}, auth=READ, tags=["metrics"])
def get_metric(request: HttpRequest, metric_id: int) -> Any:
    return _metric_out(_metric(metric_id))


SERIES_PARAMS: dict[str, Param] = {
    "granularity": Choice(values=("day", "week", "month")),
    "dimension_key": Param(max_length=64),
    "dimension_value": Param(max_length=128),
}
_RULES = {"week": "W-MON", "month": "MS"}


@api.get(
    "/metrics/{metric_id}/series",
    response={200: s.SeriesOut, **s.ERRORS},
    auth=READ,
    tags=["metrics"],
    by_alias=True,
)
def metric_series(
    request: HttpRequest,
    metric_id: int,
    scope: Query[Scope],
    granularity: str = "day",
    dimension_key: str = "",
    dimension_value: str = "",
) -> Any:
    """The metric's daily rollup (the explorer's data) over the range, by day, week or month; a
    dimension_key and dimension_value pick one breakdown series instead of the total."""
    from productops.dashboards.models import MetricDaily

    metric = _metric(metric_id)
    filters = strict_filters(request, SERIES_PARAMS, default_range="90d")
    gran = filters.get("granularity", "day")
    key, value = filters.get("dimension_key"), filters.get("dimension_value")
    rows = list(
        MetricDaily.objects.filter(metric=metric, dimension_key=key, dimension_value=value)
        .filter(filters.window("day", dates=True))
        .order_by("day")
        .values_list("day", "value")
    )
    frame = pd.DataFrame(rows, columns=["day", "value"])
    if gran in _RULES and not frame.empty:
        series = frame.assign(day=pd.to_datetime(frame["day"])).set_index("day")["value"]
        rolled = series.resample(_RULES[gran], label="left", closed="left")
        series = rolled.sum() if metric.aggregation == "sum" else rolled.mean()
        points = [{"period": d.date(), "value": float(v)} for d, v in series.dropna().items()]
    else:
        points = [{"period": d, "value": float(v)} for d, v in rows]
    return {
        "metric": _metric_out(metric),
        "granularity": gran,
        "from": filters.start,
        "to": filters.end,
        "dimension_key": key,
        "dimension_value": value,
        "points": points,
    }


@api.post(
    "/metrics/{metric_id}/points", response={200: s.WriteOut, **s.ERRORS}, auth=LEAD_WRITE, tags=["writes"]
)
def push_points(request: HttpRequest, metric_id: int, body: s.PointsIn) -> Any:
    """Upsert points of one metric, keyed by (ts, dimension_key, dimension_value): the same write path
    and scoped recompute as a connector's sync. The product-ops lead's read-write token only."""
    metric = _metric(metric_id)
    raw = [
        {"metric": metric.key or "metric", **p.model_dump(mode="json")} for p in body.points
    ]  # the webhook's metric schema checks dates are plausible and lengths fit the columns
    rows = _coerce("metrics", raw)
    points = [
        {
            "metric_id": metric.pk,
            "ts": r["ts"],
            "value": r["value"],
            "dimension_key": r.get("dimension_key", ""),
            "dimension_value": r.get("dimension_value", ""),
        }
        for r in rows
    ]
    scope = WriteScope()
    with transaction.atomic():
        result = upsert(MetricPoint, points)
        scope.add(MetricPoint, points)
        record_write(API_SOURCE_KEY, {"metrics"}, {metric.product_id}, scope.since, metric_ids=[metric.pk])
    return _write_out(result, f"metrics of {_slug(metric.product) or 'no product'}")


def _coerce(family: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        return coerce_payload(family, records)
    except RecordError as exc:
        raise ApiProblem(
            422,
            f"{len(exc.errors)} problem(s) in the records: " + "; ".join(exc.errors[:5]),
            errors=[{"loc": ["body"], "msg": e} for e in exc.errors[:100]],
        ) from None


def _write_out(result: Any, what: str) -> dict[str, Any]:
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "recompute": what,
    }


@api.post("/feedback", response={200: s.WriteOut, **s.ERRORS}, auth=LEAD_WRITE, tags=["writes"])
def push_feedback(request: HttpRequest, body: s.FeedbackIn) -> Any:
    """Upsert NPS responses, support tickets or mentions (keyed by `id`), then recompute themes,
    sentiment and NPS for that product: the webhook connector's write path. Lead, read-write token."""
    product = None
    if body.product:
        product = Product.objects.filter(slug=body.product).first()
        if product is None:
            raise ApiProblem(
                422,
                f"No product “{body.product[:100]}”.",
                errors=[{"loc": ["body", "product"], "msg": "unknown"}],
            )
    rows = _coerce(body.kind, body.records)
    scope = WriteScope()
    with transaction.atomic():
        result = write_records(
            body.kind,
            rows,
            source_key=API_SOURCE_KEY,
            connection_id=None,
            product_id=product.pk if product else None,
        )
        scope.add(schema_for(body.kind).model, rows)
        record_write(API_SOURCE_KEY, {body.kind}, {product.pk if product else None}, scope.since)
    return _write_out(result, f"{body.kind} of {_slug(product) or 'no product'}")


# --- Insights --------------------------------------------------------------------------------------------


def _lead_only_kinds() -> list[str]:
    return [k for k, spec in kinds.KINDS.items() if spec.lead_only]


def _visible_insights(request: HttpRequest) -> QuerySet[Insight]:
    """What the token's user may read: a PM does not see the lead's connector insights (as in the digest)."""
    qs = Insight.objects.select_related("product", "team").prefetch_related(
        Prefetch("products", queryset=Product.objects.only("slug")),
        Prefetch("teams", queryset=Team.objects.only("slug")),
    )
    qs = qs.filter(kind__in=list(kinds.KINDS))
    if role_of(request.user) != Role.LEAD:
        qs = qs.exclude(kind__in=_lead_only_kinds())
    return qs


def _insight_out(i: Insight) -> dict[str, Any]:
    spec = kinds.spec_of(i.kind)
    return {
        "id": i.pk,
        "kind": i.kind,
        "kind_label": spec.label,
        "title": i.title,
        "summary": i.summary,
        "severity": i.severity,
        "severity_label": Severity(i.severity).label if i.severity in Severity.values else str(i.severity),
        "status": i.status,
        "muted_until": i.muted_until,
        "product": _slug(i.product),
        "team": _slug(i.team),
        "products": [p.slug for p in i.products.all()],
        "teams": [t.slug for t in i.teams.all()],
        "starts_at": i.starts_at,
        "ends_at": i.ends_at,
        "detected_at": i.detected_at,
        "updated_at": i.updated_at,
        "url": kinds.target_url(i),
        "payload": kinds.payload_of(i),
    }


INSIGHT_PARAMS: dict[str, Param] = {
    "kind": Choice(values=tuple(kinds.KINDS)),
    "status": Choice(values=("open", *InsightStatus.values, "all")),
    "severity": Int(low=0, high=4),
}


def _insight_list(request: HttpRequest, qs: QuerySet[Insight], cursor: str | None, limit: int) -> Any:
    filters = strict_filters(request, INSIGHT_PARAMS)
    if filters.product:
        qs = qs.filter(products=filters.product)
    if filters.team:
        qs = qs.filter(teams=filters.team)
    if filters.get("kind"):
        qs = qs.filter(kind=filters.get("kind"))
    status = filters.get("status", "open")
    if status == "open":
        qs = qs.filter(status__in=[InsightStatus.NEW, InsightStatus.ACKNOWLEDGED])
    elif status != "all":
        qs = qs.filter(status=status)
    if filters.get("severity"):
        qs = qs.filter(severity__gte=int(filters.get("severity")))
    if not filters.all_time:  # what overlaps the range, as on the inbox
        qs = qs.filter(Q(ends_at__date__gte=filters.start) | Q(ends_at__isnull=True)).filter(
            Q(starts_at__isnull=True) | Q(starts_at__date__lte=filters.end)
        )
    rows, nxt = paginate(qs.distinct(), cursor, limit)
    return {"items": [_insight_out(i) for i in rows], "next_cursor": nxt}


InsightPage = s.page_of(s.InsightOut, "InsightPage")


@api.get("/insights", response={200: InsightPage, **s.ERRORS}, auth=READ, tags=["insights"])
def list_insights(
    request: HttpRequest,
    scope: Query[Scope],
    kind: str | None = None,
    status: str = Query(
        "open", description="open (new or acknowledged), new, acknowledged, resolved, muted, all"
    ),
    severity: int | None = Query(
        None, ge=0, le=4, description="At least this severity (0 info … 4 critical)."
    ),
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    """Insights of every kind, newest first, with their typed payloads; `kind` narrows to one kind."""
    return _insight_list(request, _visible_insights(request), cursor, limit)


@api.get("/incidents", response={200: InsightPage, **s.ERRORS}, auth=READ, tags=["insights"])
def list_incidents(
    request: HttpRequest,
    scope: Query[Scope],
    status: str = Query("open"),
    severity: int | None = Query(None, ge=0, le=4),
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    """Incidents: anomalies grouped with the releases, errors and flag changes around them."""
    qs = _visible_insights(request).filter(kind=InsightKind.INCIDENT)
    return _insight_list(request, qs, cursor, limit)


def _insight(request: HttpRequest, insight_id: int) -> Insight:
    insight = _visible_insights(request).filter(pk=insight_id).first()
    if insight is None:
        raise not_found(f"No insight {insight_id}.")
    return insight


@api.get("/insights/{insight_id}", response={200: s.InsightOut, **s.ERRORS}, auth=READ, tags=["insights"])
def get_insight(request: HttpRequest, insight_id: int) -> Any:
    return _insight_out(_insight(request, insight_id))


@api.post(
    "/insights/{insight_id}/triage", response={200: s.InsightOut, **s.ERRORS}, auth=WRITE, tags=["writes"]
)
def triage_insight(request: HttpRequest, insight_id: int, body: s.TriageIn) -> Any:
    """Acknowledge, resolve, mute (until a day) or reopen, with a comment: the detail page's triage,
    recorded in the insight's history under the token's user. A read-write token."""
    insight = _insight(request, insight_id)
    until = datetime.combine(body.until, time.min, tzinfo=UTC) if body.until else None
    transition(insight, body.action, request.user, comment=body.comment, until=until)
    return _insight_out(_insight(request, insight_id))


# --- Overlaps, themes, NPS, experiments, portfolio -------------------------------------------------------


@api.get(
    "/overlaps",
    response={200: s.page_of(s.OverlapOut, "OverlapPage"), **s.ERRORS},
    auth=READ,
    tags=["portfolio"],
)
def list_overlaps(
    request: HttpRequest,
    product: str | None = None,
    team: str | None = None,
    decision: str = Query("open", description="open, confirmed, dismissed, linked or all"),
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    """Cross-team overlaps that are still detected; a team sees the pairs on either side."""
    from insights.overlaps.models import Decision, OverlapPair

    filters = strict_filters(request, {"decision": Choice(values=(*Decision.values, "all"))})
    qs = OverlapPair.objects.filter(active=True).select_related("team_a", "team_b", "product")
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(Q(team_a=filters.team) | Q(team_b=filters.team))
    if filters.get("decision", "open") != "all":
        qs = qs.filter(decision=filters.get("decision", "open"))
    rows, nxt = paginate(qs, cursor, limit)
    items = [
        {
            "id": p.pk,
            "kind": p.kind,
            "kind_label": p.get_kind_display(),
            "score": p.score,
            "similarity": p.similarity,
            "explanation": p.explanation,
            "a": p.a_ref,
            "b": p.b_ref,
            "team_a": _slug(p.team_a),
            "team_b": _slug(p.team_b),
            "product": _slug(p.product),
            "decision": p.decision,
            "overlap_start": p.overlap_start,
            "overlap_end": p.overlap_end,
            "active": p.active,
            "first_seen_at": p.first_seen_at,
            "last_seen_at": p.last_seen_at,
        }
        for p in rows
    ]
    return {"items": items, "next_cursor": nxt}


@api.get(
    "/themes", response={200: s.page_of(s.ThemeOut, "ThemePage"), **s.ERRORS}, auth=READ, tags=["feedback"]
)
def list_themes(
    request: HttpRequest,
    product: str | None = None,
    team: str | None = None,
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    """Active feedback themes with their size, sentiment and 4-week change."""
    from insights.feedback.models import Theme, ThemeStatus

    filters = strict_filters(request)
    qs = (
        Theme.objects.filter(status=ThemeStatus.ACTIVE)
        .select_related("product")
        .filter(_products_of(filters))
    )
    rows, nxt = paginate(qs, cursor, limit)
    items = [
        {
            "id": t.pk,
            "name": t.name,
            "product": _slug(t.product),
            "status": t.status,
            "size": t.size,
            "sentiment": t.sentiment,
            "recent_volume": t.recent_volume,
            "previous_volume": t.previous_volume,
            "change": t.change,
            "first_seen": t.first_seen,
            "last_seen": t.last_seen,
        }
        for t in rows
    ]
    return {"items": items, "next_cursor": nxt}


def _nps_period(label: str, result: Any) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if pd.isna(x) else round(float(x), 2)

    return {
        "period": label,
        "n": result.n,
        "nps": num(result.nps) if result.n else None,
        "promoters": result.promoters,
        "passives": result.passives,
        "detractors": result.detractors,
        "ci_low": num(result.ci_low),
        "ci_high": num(result.ci_high),
        "enough": bool(result.enough),
    }


@api.get("/nps", response={200: s.NpsOut, **s.ERRORS}, auth=READ, tags=["feedback"], by_alias=True)
def nps(request: HttpRequest, scope: Query[Scope]) -> Any:
    """NPS over the range (all time by default) with its 95% interval, and month by month."""
    from insights import stats
    from insights.feedback.nps import min_sample, responses_frame, trend

    filters = strict_filters(request)
    frame = responses_frame(filters)
    overall = stats.nps(frame["score"].to_numpy(), min_sample())
    return {
        "product": _slug(filters.product),
        "team": _slug(filters.team),
        "from": filters.start,
        "to": filters.end,
        "overall": _nps_period("all" if filters.all_time else f"{filters.start}/{filters.end}", overall),
        "months": [_nps_period(p["label"], p["result"]) for p in trend(frame)],
    }


@api.get(
    "/experiments",
    response={200: s.page_of(s.ExperimentOut, "ExperimentPage"), **s.ERRORS},
    auth=READ,
    tags=["feedback"],
)
def list_experiments(
    request: HttpRequest,
    product: str | None = None,
    team: str | None = None,
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    """Experiments with the latest verdict (ship, keep running, stop...) when there is one."""
    filters = strict_filters(request)
    qs = Experiment.objects.select_related("product", "team").filter(_products_of(filters))
    if filters.team:
        qs = Experiment.objects.select_related("product", "team").filter(
            Q(team=filters.team) | Q(product__teams=filters.team)
        )
        if filters.product:
            qs = qs.filter(product=filters.product)
    rows, nxt = paginate(qs.distinct(), cursor, limit)
    verdicts: dict[int, str] = {}
    for i in Insight.objects.filter(kind=InsightKind.EXPERIMENT_VERDICT).order_by("detected_at"):
        payload = kinds.payload_of(i)
        exp_id = getattr(payload, "experiment_id", None)
        if isinstance(exp_id, int):
            verdicts[exp_id] = str(getattr(payload, "verdict", "") or "")
    items = [
        {
            "id": e.pk,
            "key": e.key,
            "name": e.name,
            "hypothesis": e.hypothesis,
            "status": e.status,
            "product": _slug(e.product),
            "team": _slug(e.team),
            "started_at": e.started_at,
            "ended_at": e.ended_at,
            "primary_metric": e.primary_metric,
            "verdict": verdicts.get(e.pk) or None,
        }
        for e in rows
    ]
    return {"items": items, "next_cursor": nxt}


@api.get(
    "/portfolio/items",
    response={200: s.page_of(s.PortfolioItemOut, "PortfolioItemPage"), **s.ERRORS},
    auth=READ,
    tags=["portfolio"],
)
def list_portfolio_items(
    request: HttpRequest,
    product: str | None = None,
    team: str | None = None,
    kind: str | None = Query(None, description="initiative, epic or story"),
    status_category: str | None = Query(None, description="todo, in_progress or done"),
    limit: int = LIMIT,
    cursor: str | None = CURSOR,
) -> Any:
    """Initiatives, epics and stories from the trackers (items gone at the source are left out)."""
    from productops.portfolio.models import ItemKind, StatusCategory

    filters = strict_filters(
        request,
        {
            "kind": Choice(values=tuple(ItemKind.values)),
            "status_category": Choice(values=tuple(StatusCategory.values)),
        },
    )
    qs = PortfolioItem.objects.filter(is_gone=False).select_related("team", "product")
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(team=filters.team)
    if filters.get("kind"):
        qs = qs.filter(kind=filters.get("kind"))
    if filters.get("status_category"):
        qs = qs.filter(status_category=filters.get("status_category"))
    rows, nxt = paginate(qs, cursor, limit)
    items = [
        {
            "id": i.pk,
            "external_id": i.external_id,
            "kind": i.kind,
            "title": i.title,
            "team": _slug(i.team),
            "product": _slug(i.product),
            "status": i.status,
            "status_category": i.status_category,
            "labels": list(i.labels or []) if isinstance(i.labels, list) else [],
            "start_date": i.start_date,
            "target_date": i.target_date,
            "done_at": i.done_at,
            "parent_id": i.parent_id,
            "url": i.url,
            "tracker": i.tracker,
            "assignee": i.assignee,
        }
        for i in rows
    ]
    return {"items": items, "next_cursor": nxt}


def rate_limit_setting() -> int:
    return int(getattr(settings, "API_RATE_LIMIT", 120))
