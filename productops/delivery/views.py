"""Opportunities (evidence-ranked work of one product, RICE factors editable), Delivery health per team,
the roadmap by quarter, one item's delivery page, and the evidence drill-down behind each count.

Everyone with a role reads. Editing an opportunity's factors is for the lead and the PMs of its product
(`goals.permissions`, the same rule as goals), checked on every write.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from insights.feedback.models import Theme
from productops.accounts.roles import pm_required
from productops.dashboards.tables import csv_cell
from productops.goals.models import Alignment, AlignmentStatus
from productops.goals.permissions import editable_product_ids
from productops.portfolio.models import PortfolioItem, Product, Team, effort_points
from productops.ui.charts import PALETTE, chart_context, figure
from productops.ui.drill import drill_base, rows_url
from productops.ui.filters import (
    ALL_TIME,
    Choice,
    Int,
    Param,
    filter_bar_context,
    parse_filters,
)

from . import metrics
from .forms import FactorsForm
from .models import OpportunityFactors, TargetDateChange
from .opportunities import (
    FACTORS,
    PEOPLE_BY,
    Opportunity,
    evidence_frame,
    opportunities,
    people_table,
    sort_opportunities,
)
from .selectors import ROADMAP_KINDS, items_frame, now_utc

OPPORTUNITY_PARAMS = {
    "sort": Param(max_length=20),
    "kind": Choice(values=("initiative", "epic", "theme")),
    "q": Param(),
    "format": Choice(values=("csv",)),
}
EVIDENCE_PARAMS = {
    "item": Int(),
    "theme": Int(),
    "by": Choice(values=PEOPLE_BY),
    "format": Choice(values=("csv",)),
    "page": Int(low=1),
}
ROADMAP_PARAMS = {"format": Choice(values=("csv",)), "slipped": Choice(values=("1",))}
HEALTH_WEEKS_DEFAULT = "180d"
LIST_LIMIT = 50


def _can_edit_product(user: Any, product_id: int) -> bool:
    allowed = editable_product_ids(user)
    return allowed is None or product_id in allowed


def _default_product(request: HttpRequest) -> Product | None:
    allowed = editable_product_ids(request.user)
    if allowed:
        return Product.objects.filter(pk__in=allowed).order_by("name").first()
    return Product.objects.order_by("name").first()


def _csv_response(filename: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    """A CSV of a page's table (at most a product's opportunities or a roadmap: built in memory)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(c) for c in row])
    return response


# --- Opportunities -------------------------------------------------------------------------------------


def _scope(base: dict[str, Any], product: Product) -> dict[str, Any]:
    """The page's product and date range, for the rows behind its numbers (not its team: the evidence
    of an item is all its feedback, whichever team's product it came through)."""
    scope = {k: v for k, v in base.items() if k in {"range", "from", "to"}}
    return {"product": product.slug, **scope}


def _evidence_url(scope: dict[str, Any], target: dict[str, Any], by: str) -> str:
    return f"{reverse('delivery:evidence')}?{urlencode({**scope, **target, 'by': by})}"


def _opportunity_links(o: Opportunity, base: dict[str, Any], product: Product) -> dict[str, str]:
    """Every number's drill-down: the rows each count counts."""
    scope = _scope(base, product)
    target = {"item": o.item.pk} if o.item else {"theme": o.theme.pk if o.theme else 0}
    links = {
        "feedback": rows_url("theme-members", scope, **target),
        "customers": _evidence_url(scope, target, "customer"),
        "accounts": _evidence_url(scope, target, "account"),
        "respondents": _evidence_url(scope, target, "respondent"),
    }
    links["reach"] = links["customers"]
    links["sentiment"] = links["feedback"]
    if o.item and o.effort_source == "stories":
        links["effort"] = rows_url("items", {"range": ALL_TIME}, under=o.item.pk, kind="story", estimated="1")
    elif o.item:
        links["effort"] = reverse("delivery:item", args=[o.item.pk])
    if o.theme:
        links["trend"] = reverse("feedback:theme", args=[o.theme.pk])
    elif len(o.themes) == 1:
        links["trend"] = reverse("feedback:theme", args=[o.themes[0].pk])
    return links


def _plan_links(o: Opportunity, base: dict[str, Any], product: Product) -> list[tuple[str, int, str]]:
    target = {"item": o.item.pk} if o.item else {"theme": o.theme.pk if o.theme else 0}
    scope = _scope(base, product)
    key = o.evidence.plan_key
    return [
        (plan, n, rows_url("theme-members", scope, segment=f"{key}:{plan}", **target) if key else "")
        for plan, n in o.evidence.plans
    ]


CSV_HEADER = [
    "Opportunity",
    "Kind",
    "Team",
    "Feedback",
    "Customers",
    "Accounts",
    "NPS respondents",
    "Plans",
    "Revenue",
    "Sentiment",
    "Trend",
    "Key results",
    "Reach",
    "Impact",
    "Confidence",
    "Effort (points)",
    "Effort from",
    "Score",
]


def _csv_row(o: Opportunity) -> list[Any]:
    f = o.factors
    return [
        o.title,
        o.kind,
        o.team.name if o.team else "",
        o.evidence.feedback,
        o.evidence.customers,
        o.evidence.accounts,
        o.evidence.respondents,
        "; ".join(f"{p}: {n}" for p, n in o.evidence.plans),
        o.evidence.revenue,
        None if o.evidence.sentiment is None else round(o.evidence.sentiment, 3),
        None if o.trend is None else round(o.trend, 3),
        "; ".join(kr.title for kr in o.key_results),
        f["reach"].value,
        f["impact"].value,
        f["confidence"].value,
        f["effort"].value,
        o.effort_source,
        None if o.score is None else round(o.score, 2),
    ]


@pm_required
def opportunities_page(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, params=OPPORTUNITY_PARAMS, default_range=ALL_TIME)
    product = filters.product or _default_product(request)
    context: dict[str, Any] = {**filter_bar_context(filters), "product": product, "rows": []}
    if product is None:
        return render(request, "delivery/opportunities.html", context)
    rows = opportunities(
        product, team_id=filters.team.pk if filters.team else None, window=filters.window("ts")
    )
    kind = filters.get("kind")
    if kind:
        rows = [o for o in rows if o.kind == kind]
    if q := filters.get("q").lower():
        rows = [o for o in rows if q in o.title.lower()]
    sort = filters.get("sort") or "-score"
    rows = sort_opportunities(rows, sort)
    if filters.get("format") == "csv":
        return _csv_response(f"opportunities-{product.slug}.csv", CSV_HEADER, [_csv_row(o) for o in rows])
    editable = _can_edit_product(request.user, product.pk)
    base = drill_base(filters)
    context.update(
        {
            "rows": [
                {
                    "o": o,
                    "links": _opportunity_links(o, base, product),
                    "plans": _plan_links(o, base, product),
                    "form": FactorsForm(opportunity=o) if editable else None,
                }
                for o in rows
            ],
            "editable": editable,
            "sort": sort,
            "kind": kind,
            "q": filters.get("q"),
            "sort_links": {
                name: "?"
                + filters.querystring(product=product.slug, sort=name if sort == f"-{name}" else f"-{name}")
                for name in (
                    "score",
                    "reach",
                    "impact",
                    "confidence",
                    "effort",
                    "feedback",
                    "customers",
                    "accounts",
                    "revenue",
                    "sentiment",
                    "trend",
                    "krs",
                    "title",
                )
            },
            "csv_url": "?" + filters.querystring(product=product.slug, format="csv"),
        }
    )
    return render(request, "delivery/opportunities.html", context)


@pm_required
@require_POST
def factors(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("target", "")
    kind, _, raw = target.partition(":")
    if kind not in {"item", "theme"} or not raw.isdigit() or len(raw) > 12:
        raise Http404("Unknown opportunity.")
    lookup: dict[str, Any]
    if kind == "item":
        item = get_object_or_404(PortfolioItem, pk=int(raw), is_gone=False)
        product_id, lookup = item.product_id, {"item": item}
    else:
        theme = get_object_or_404(Theme, pk=int(raw))
        product_id, lookup = theme.product_id, {"theme": theme}
    if product_id is None or not _can_edit_product(request.user, product_id):
        raise PermissionDenied("Only the product-ops lead and the PMs of this product edit its scores.")
    product = Product.objects.get(pk=product_id)
    form = FactorsForm(request.POST)
    back = reverse("delivery:opportunities") + f"?product={product.slug}#opp-{kind}-{raw}"
    if not form.is_valid():
        errors = "; ".join(f"{k}: {', '.join(str(e) for e in v)}" for k, v in form.errors.items())
        messages.error(request, f"Score not saved: {errors}")
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    if form.cleaned_data.get("reset"):
        OpportunityFactors.objects.filter(**lookup).delete()
        messages.success(request, "Back to the computed factors.")
    else:
        OpportunityFactors.objects.update_or_create(
            **lookup,
            defaults={
                "product_id": product_id,
                **{name: data.get(name) for name in FACTORS},
                "note": data.get("note", ""),
                "updated_by": request.user,
            },
        )
        messages.success(request, "Saved your factors; empty ones use the computed value.")
    return HttpResponseRedirect(back)


@pm_required
def evidence(request: HttpRequest) -> HttpResponse:
    """The customers, accounts or respondents behind an opportunity's count: one row each."""
    filters = parse_filters(request, params=EVIDENCE_PARAMS, default_range=ALL_TIME)
    by = filters.get("by") or "customer"
    title = ""
    if item_id := filters.get("item"):
        item = get_object_or_404(PortfolioItem, pk=int(item_id))
        theme_ids = list(item.feedback_links.exclude(status="rejected").values_list("theme_id", flat=True))
        title, back = item.title, reverse("delivery:item", args=[item.pk])
    elif theme_id := filters.get("theme"):
        theme = get_object_or_404(Theme, pk=int(theme_id))
        theme_ids, title, back = [theme.pk], theme.name, reverse("feedback:theme", args=[theme.pk])
    else:
        raise Http404("Choose an item or a theme.")
    rows = people_table(evidence_frame(theme_ids, filters.window("ts")), by)
    if filters.get("format") == "csv":
        return _csv_response(
            f"evidence-{by}.csv",
            ["Who", "Feedback", "Sources", "Plan", "Revenue", "Last feedback"],
            [[r["who"], r["feedback"], r["sources"], r["plan"], r["revenue"], r["last"]] for r in rows],
        )
    page = Paginator(rows, 100).get_page(filters.get("page") or 1)
    return render(
        request,
        "delivery/evidence.html",
        {
            "filters": filters,
            "by": by,
            "by_label": {"customer": "Customers", "account": "Accounts", "respondent": "NPS respondents"}[by],
            "title": title,
            "back": back,
            "total": len(rows),
            "page": page,
            "csv_url": "?" + filters.querystring(format="csv", page=None),
        },
    )


# --- Delivery health -----------------------------------------------------------------------------------


def _flow_chart(flow: Any, team: Team, base: dict[str, Any]) -> dict[str, Any] | None:
    mine = flow[flow["team_id"] == team.pk]
    if mine.empty or not mine["throughput"].sum():
        return None
    weeks = [w.isoformat() for w in mine["week"]]
    urls = [
        rows_url("items", {"team": team.slug, "range": ALL_TIME}, kind="story", done_week=w) for w in weeks
    ]
    cycle = [None if c != c else round(float(c), 1) for c in mine["cycle_median"]]
    fig = figure(
        [
            {
                "type": "bar",
                "name": "Done (throughput)",
                "x": weeks,
                "y": mine["throughput"].tolist(),
                "customdata": urls,
                "marker": {"color": PALETTE[0]},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Median cycle time (days)",
                "x": weeks,
                "y": cycle,
                "yaxis": "y2",
                "customdata": urls,
                "line": {"color": PALETTE[3]},
            },
        ],
        {
            "height": 260,
            "yaxis": {"title": {"text": "items done"}, "rangemode": "tozero"},
            "yaxis2": {"title": {"text": "days"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
        },
    )
    return chart_context(
        fig,
        f"Stories done per week and their median cycle time for {team.name}",
        ["Week", "Done", "Median cycle time (days)", "Mean cycle time (days)"],
        [
            [w, int(t), "—" if c is None else c, "—" if m != m else round(float(m), 1)]
            for w, t, c, m in zip(weeks, mine["throughput"], cycle, mine["cycle_mean"], strict=True)
        ],
    )


@pm_required
def health(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, default_range=HEALTH_WEEKS_DEFAULT)
    if filters.team:
        teams = [filters.team]
    elif filters.product:
        teams = list(Team.objects.filter(products=filters.product).order_by("name"))
    else:
        teams = list(Team.objects.order_by("name"))
    team_ids = [t.pk for t in teams]
    frame = items_frame(team_ids, product_id=filters.product.pk if filters.product else None)
    roadmap = items_frame(
        team_ids, product_id=filters.product.pk if filters.product else None, kinds=ROADMAP_KINDS
    )
    at = metrics.as_of(frame, now_utc())
    start = filters.start if not filters.all_time else (at - timedelta(days=365)).date()
    flow = metrics.weekly_flow(frame, start, at.date())
    wip = metrics.wip(frame)
    cutoff = metrics.stale_cutoff(at)
    stale = metrics.stale(frame, at)
    backlog = metrics.backlog(frame, at)
    slips = metrics.slipped(roadmap[roadmap["status_category"] != "done"])
    done_slips = metrics.slipped(frame[frame["status_category"] != "done"])
    ids = set(stale["id"].tolist()[: LIST_LIMIT * len(teams)]) | set(slips["id"]) | set(done_slips["id"])
    items = PortfolioItem.objects.select_related("team").in_bulk(list(ids))
    base = drill_base(filters)
    cards = []
    for team in teams:
        scope = {"team": team.slug, "range": ALL_TIME}
        mine_flow = flow[flow["team_id"] == team.pk]
        recent = mine_flow.tail(4)
        team_stale = stale[stale["team_id"] == team.pk]
        team_slips = [
            (items[int(r.id)], int(r.slip_days), r.baseline, r.target_date)
            for r in slips[slips["team_id"] == team.pk].itertuples()
            if int(r.id) in items
        ]
        story_slips = done_slips[done_slips["team_id"] == team.pk]
        b = backlog.get(team.pk)
        cards.append(
            {
                "team": team,
                "chart": _flow_chart(flow, team, base),
                "throughput_4w": int(recent["throughput"].sum()) if len(recent) else 0,
                "cycle_4w": _median_of(frame, team.pk, at),
                "wip": wip.get(team.pk, 0),
                "wip_url": rows_url("items", scope, kind="story", status="in_progress"),
                "stale": [
                    (items[int(r.id)], r.idle_days)
                    for r in team_stale.head(LIST_LIMIT).itertuples()
                    if int(r.id) in items
                ],
                "stale_count": len(team_stale),
                "stale_url": rows_url(
                    "items", scope, kind="story", status="in_progress", idle_before=cutoff.isoformat()
                ),
                "slips": team_slips,
                "story_slips": len(story_slips),
                "backlog": b,
                "backlog_url": rows_url("items", scope, kind="story", status="todo"),
                "unestimated_url": rows_url("items", scope, kind="story", status="todo", estimated="0"),
            }
        )
    context = {
        **filter_bar_context(filters),
        "cards": cards,
        "as_of": at.date(),
        "stale_days": metrics.STALE_DAYS,
        "cutoff": cutoff,
        "has_items": not frame.empty or not roadmap.empty,
    }
    return render(request, "delivery/health.html", context)


def _median_of(frame: Any, team_id: int, at: Any) -> float | None:
    """Median cycle time of the team's stories done in the four weeks before `at`."""
    mine = frame[(frame["team_id"] == team_id) & (frame["status_category"] == "done")]
    mine = mine[(mine["done_at"] > at - timedelta(days=28)) & (mine["done_at"] <= at)]
    cycle = metrics.cycle_days(mine).dropna()
    return round(float(cycle.median()), 1) if len(cycle) else None


# --- Roadmap -------------------------------------------------------------------------------------------


def quarter_of(day: date | None) -> str:
    if day is None:
        return "No target date"
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


@pm_required
def roadmap(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, params=ROADMAP_PARAMS, default_range=ALL_TIME)
    qs = PortfolioItem.objects.filter(kind__in=ROADMAP_KINDS, is_gone=False).select_related(
        "team", "product", "parent"
    )
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(team=filters.team)
    if not filters.all_time:
        qs = qs.filter(target_date__gte=filters.start, target_date__lte=filters.end)
    items = list(qs.order_by("target_date", "kind", "title"))
    ids = [i.pk for i in items]
    history: dict[int, list[TargetDateChange]] = defaultdict(list)
    for change in TargetDateChange.objects.filter(item_id__in=ids).order_by("changed_at", "pk"):
        history[change.item_id].append(change)
    krs: dict[int, list[Any]] = defaultdict(list)
    for a in Alignment.objects.filter(item_id__in=ids, status=AlignmentStatus.CONFIRMED).select_related(
        "key_result"
    ):
        krs[a.item_id].append(a.key_result)
    rows: list[dict[str, Any]] = []
    for item in items:
        changes = history.get(item.pk, [])
        baseline = changes[0].to_date if changes else None
        slip = (item.target_date - baseline).days if baseline and item.target_date else 0
        rows.append(
            {
                "item": item,
                "baseline": baseline,
                "slip": slip,
                "moves": max(len(changes) - 1, 0),
                "krs": krs.get(item.pk, []),
                "quarter": quarter_of(item.target_date),
            }
        )
    if filters.get("slipped"):
        rows = [r for r in rows if r["slip"] > 0]
    if filters.get("format") == "csv":
        return _csv_response(
            "roadmap.csv",
            [
                "Quarter",
                "Kind",
                "Title",
                "Team",
                "Product",
                "Status",
                "Baseline",
                "Target",
                "Slip (days)",
                "Key results",
            ],
            [
                [
                    r["quarter"],
                    r["item"].kind,
                    r["item"].title,
                    r["item"].team.name if r["item"].team else "",
                    r["item"].product.name if r["item"].product else "",
                    r["item"].get_status_category_display(),
                    r["baseline"],
                    r["item"].target_date,
                    r["slip"],
                    "; ".join(kr.title for kr in r["krs"]),
                ]
                for r in rows
            ],
        )
    quarters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        quarters[r["quarter"]].append(r)
    context = {
        **filter_bar_context(filters),
        "quarters": sorted(quarters.items(), key=lambda kv: (kv[0] == "No target date", kv[0])),
        "total": len(rows),
        "slipped_count": sum(1 for r in rows if r["slip"] > 0),
        "csv_url": "?" + filters.querystring(format="csv"),
        "slipped_url": "?" + filters.querystring(slipped="1"),
        "all_url": "?" + filters.querystring(slipped=None),
        "only_slipped": bool(filters.get("slipped")),
    }
    return render(request, "delivery/roadmap.html", context)


@pm_required
def item(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(PortfolioItem.objects.select_related("team", "product", "parent"), pk=pk)
    changes = list(TargetDateChange.objects.filter(item=obj).order_by("changed_at", "pk"))
    baseline = changes[0].to_date if changes else None
    children = list(obj.children.filter(is_gone=False).order_by("kind", "title"))
    krs = [
        a.key_result
        for a in Alignment.objects.filter(item=obj, status=AlignmentStatus.CONFIRMED).select_related(
            "key_result", "key_result__objective"
        )
    ]
    context = {
        "item": obj,
        "changes": changes,
        "baseline": baseline,
        "slip": (obj.target_date - baseline).days if baseline and obj.target_date else 0,
        "effort": effort_points(obj.estimate_points, obj.estimate_size),
        "children": [(c, effort_points(c.estimate_points, c.estimate_size)) for c in children],
        "krs": krs,
        "opportunities_url": (
            reverse("delivery:opportunities") + f"?product={obj.product.slug}#opp-item-{obj.pk}"
            if obj.product
            else ""
        ),
    }
    return render(request, "delivery/item.html", context)
