from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from productops.accounts.roles import pm_required
from productops.portfolio.models import Dependency, PortfolioItem, Product, StatusCategory, Team
from productops.ui.charts import PALETTE, chart_context, figure
from productops.ui.filters import ALL_TIME, BadParam, Choice, Filters, Int, parse_day, parse_filters

from . import selectors
from .evidence import Evidence, EvidenceRow, customer_evidence
from .models import Decision, OverlapKind, OverlapPair, OverlapRun
from .services import OverlapActionError, decide

PAGE_SIZE = 25
VIEW_ACTIONS = [
    ("confirm", "Confirm: talk to them"),
    ("dismiss", "Dismiss: not an overlap"),
    ("link", "Link as dependency"),
]
ACTIONS = {
    "confirm": "Confirmed: talk to them",
    "dismiss": "Dismissed",
    "link": "Linked as a dependency",
    "reopen": "Re-opened",
}


# The portfolio page's own parameters, on top of the shared filter bar (product, team, from/to).
PORTFOLIO_PARAMS = {
    "status": Choice(values=tuple(StatusCategory.values)),
    "kind": Choice(values=tuple(OverlapKind.values)),
    "decision": Choice(values=(*Decision.values, "all")),
    "team_a": Int(),
    "team_b": Int(),
    "pair": Int(),  # one overlap, e.g. the target of an overlap insight
    "page": Int(low=1),
}


def _filters(request: HttpRequest) -> Filters:
    return parse_filters(request, params=PORTFOLIO_PARAMS, default_range=ALL_TIME)


def _pair_filters(filters: Filters) -> dict[str, Any]:
    """`selectors.pairs` keyword arguments from the page's filters."""
    pair = filters.ints("pair")
    decision = filters.get("decision", "all" if pair else Decision.OPEN)
    ints: dict[str, int | None] = {
        name: next(iter(filters.ints(name)), None) for name in ("team_a", "team_b")
    }
    return {
        "product": filters.product.pk if filters.product else None,
        "team": filters.team.pk if filters.team else None,
        **ints,
        "status": filters.get("status") or None,
        "kind": filters.get("kind") or None,
        "decision": None if decision == "all" else decision,
        "start": filters.since,
        "end": filters.until,
        "pair": pair[0] if pair else None,
    }


def _query(filters: Filters, **override: Any) -> str:
    return filters.querystring(**override)


def _bar(start: date | None, target: date | None) -> tuple[date, date]:
    """A bar for an item with one known date is two weeks long."""
    if start is None:
        assert target is not None  # timeline_items() excludes items without either date
        return target - timedelta(days=14), target
    return start, target or start + timedelta(days=14)


def _timeline(items: list[PortfolioItem], deps: list[Dependency]) -> dict[str, Any] | None:
    """Horizontal bars per item grouped by team, coloured by status; cross-team dependencies as arrows."""
    if not items:
        return None
    labels = {it.pk: f"{it.team.name if it.team else 'No team'} · {it.title[:50]}" for it in items}
    traces = []
    for status in StatusCategory:
        rows = [it for it in items if it.status_category == status]
        if not rows:
            continue
        windows = [_bar(it.start_date, it.target_date) for it in rows]
        starts = [w[0] for w in windows]
        ends = [w[1] for w in windows]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": status.label,
                "marker": {"color": status.colour},
                "y": [labels[it.pk] for it in rows],
                "base": [s.isoformat() for s in starts],
                "x": [max(1, (e - s).days) * 86_400_000 for s, e in zip(starts, ends, strict=True)],
                "customdata": [reverse("overlaps:item", args=[it.pk]) for it in rows],
                "hovertemplate": "%{y}<br>from %{base|%d %b %Y}<extra></extra>",
            }
        )
    by_pk = {it.pk: it for it in items}
    xs: list[Any] = []
    ys: list[Any] = []
    for dep in deps:
        a, b = by_pk.get(dep.from_item_id), by_pk.get(dep.to_item_id)
        if a is None or b is None or a.team_id == b.team_id:
            continue
        a_end = a.target_date or a.start_date
        b_start = b.start_date or b.target_date
        xs += [a_end.isoformat() if a_end else None, b_start.isoformat() if b_start else None, None]
        ys += [labels[a.pk], labels[b.pk], None]
    if xs:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Cross-team dependency",
                "x": xs,
                "y": ys,
                "line": {"color": PALETTE[3], "width": 2, "dash": "dot"},
                "marker": {"symbol": "arrow", "size": 9, "angleref": "previous"},
                "hoverinfo": "skip",
            }
        )
    height = max(280, 22 * len(labels) + 80)
    return figure(
        traces,
        {
            "barmode": "overlay",
            "height": height,
            "hovermode": "closest",
            "xaxis": {"type": "date"},
            "yaxis": {
                "autorange": "reversed",
                "automargin": True,
                "categoryorder": "array",
                "categoryarray": list(dict.fromkeys(labels.values())),
            },
            "margin": {"l": 16, "r": 16, "t": 16, "b": 40},
        },
    )


def _matrix(filters: Filters, teams: dict[int, str]) -> tuple[dict[str, Any] | None, list[list[Any]]]:
    base = {**_pair_filters(filters), "team_a": None, "team_b": None, "pair": None}
    counts = selectors.team_matrix(selectors.pairs(**base).values_list("team_a_id", "team_b_id"))
    if not counts:
        return None, []
    involved = sorted({t for pair in counts for t in pair}, key=lambda t: teams.get(t, ""))
    names = [teams.get(t, "?") for t in involved]
    z, links, rows = [], [], []
    for ta in involved:
        z_row: list[int] = []
        link_row: list[str] = []
        table_row: list[Any] = [teams.get(ta, "?")]
        for tb in involved:
            n = counts.get((min(ta, tb), max(ta, tb)), 0)
            z_row.append(n)
            url = (
                reverse("overlaps:portfolio")
                + "?"
                + _query(filters, team_a=ta, team_b=tb, pair=None, page=None)
                + "#overlaps"
            )
            link_row.append(url)
            table_row.append(n)
        z.append(z_row)
        links.append(link_row)
        rows.append(table_row)
    fig = figure(
        [
            {
                "type": "heatmap",
                "z": z,
                "x": names,
                "y": names,
                "customdata": links,
                "colorscale": "Blues",
                "hovertemplate": "%{y} x %{x}: %{z} overlaps<extra></extra>",
                "showscale": False,
                "texttemplate": "%{z}",
            }
        ],
        {
            "height": max(280, 40 * len(names) + 120),
            "hovermode": "closest",
            "yaxis": {"autorange": "reversed", "automargin": True},
            "xaxis": {"automargin": True},
        },
    )
    return fig, [["", *names], *rows]


def _side(pair: OverlapPair, side: str) -> dict[str, Any]:
    item = getattr(pair, f"item_{side}")
    exp = getattr(pair, f"experiment_{side}")
    team = getattr(pair, f"team_{side}")
    if item is not None:
        return {
            "title": item.title,
            "team": team,
            "url": item.url,
            "tracker": item.tracker or "tracker",
            "start": item.start_date,
            "end": item.target_date,
            "status": item.get_status_category_display(),
            "detail": reverse("overlaps:item", args=[item.pk]),
            "key": item.external_id,
        }
    if exp is not None:
        return {
            "title": exp.name,
            "team": team,
            "url": "",
            "tracker": "experiment",
            "start": exp.started_at.date() if exp.started_at else None,
            "end": exp.ended_at.date() if exp.ended_at else None,
            "status": exp.get_status_display(),
            "detail": "",
            "key": exp.key,
            "surface": exp.surface,
            "metric": exp.primary_metric,
        }
    return {"title": "(deleted)", "team": team}


@pm_required
def portfolio(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    teams = dict(Team.objects.values_list("pk", "name"))
    pair_filters = _pair_filters(filters)
    page = Paginator(selectors.pairs(**pair_filters), PAGE_SIZE).get_page(filters.get("page", "1"))
    rows = [
        {"pair": p, "a": _side(p, "a"), "b": _side(p, "b"), "kind_colour": OverlapKind(p.kind).colour}
        for p in page.object_list
    ]
    items = list(
        selectors.timeline_items(
            product=pair_filters["product"],
            team=pair_filters["team"],
            status=pair_filters["status"],
            start=filters.since,
            end=filters.until,
        )
    )
    deps = list(
        Dependency.objects.filter(from_item__in=[i.pk for i in items], to_item__in=[i.pk for i in items])
    )
    timeline_fig = _timeline(items, deps)
    timeline = (
        chart_context(
            timeline_fig,
            "Timeline of portfolio items per team, coloured by status",
            ["Team", "Item", "Start", "Target", "Status"],
            [
                [
                    i.team.name if i.team else "",
                    i.title,
                    i.start_date or "",
                    i.target_date or "",
                    i.get_status_category_display(),
                ]
                for i in items
            ],
        )
        if timeline_fig
        else None
    )
    matrix_fig, matrix_rows = _matrix(filters, teams)
    matrix = (
        chart_context(
            matrix_fig,
            "Team by team count of open overlaps; click a cell to list them",
            matrix_rows[0] if matrix_rows else (),
            matrix_rows[1:],
        )
        if matrix_fig
        else None
    )
    context = {
        "filters": filters,
        "sel": {
            **pair_filters,
            "decision": filters.get("decision", "all" if pair_filters["pair"] else "open"),
        },
        "products": Product.objects.all(),
        "teams": Team.objects.all(),
        "statuses": StatusCategory.choices,
        "kinds": OverlapKind.choices,
        "decisions": Decision.choices,
        "page_obj": page,
        "rows": rows,
        "timeline": timeline,
        "matrix": matrix,
        "last_run": OverlapRun.objects.filter(finished_at__isnull=False).first(),
        "querystring_without_page": _query(filters, page=None),
        "pair_team_names": (teams.get(pair_filters["team_a"] or 0), teams.get(pair_filters["team_b"] or 0)),
        "here": request.get_full_path(),
        "view_actions": VIEW_ACTIONS,
    }
    return render(request, "overlaps/portfolio.html", context)


@pm_required
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(PortfolioItem.objects.select_related("team", "product"), pk=pk)
    evidence = customer_evidence(item)
    shown, shown_label = _evidence_shown(evidence, request.GET.get("evidence", ""), request.GET.get("week"))
    trend = None
    if evidence.total:
        weekly = evidence.weekly

        def week_url(week: date, source: str = "") -> str:
            query = {"week": week.isoformat(), **({"evidence": source} if source else {})}
            return f"?{urlencode(query)}#evidence"

        fig = figure(
            [
                {
                    "type": "bar",
                    "name": col,
                    "x": [d.date().isoformat() for d in weekly.index],
                    "y": weekly[col].tolist(),
                    "customdata": [week_url(d.date(), col) for d in weekly.index],
                }
                for col in weekly.columns
            ],
            {"barmode": "stack"},
        )
        trend = chart_context(
            fig,
            "Matching feedback per week",
            ["Week", *weekly.columns],
            [
                [format_html('<a href="{}">{}</a>', week_url(d.date()), d.date()), *row]
                for d, row in zip(weekly.index, weekly.values.tolist(), strict=True)
            ],
        )
    ref = selectors.item_ref(item.pk)
    related = OverlapPair.objects.filter(active=True).filter(a_ref=ref) | OverlapPair.objects.filter(
        active=True, b_ref=ref
    )
    related = related.select_related("item_a", "item_b", "experiment_a", "experiment_b", "team_a", "team_b")
    pairs = [
        {"pair": p, "a": _side(p, "a"), "b": _side(p, "b"), "kind_colour": OverlapKind(p.kind).colour}
        for p in related.order_by("-score")[:50]
    ]
    return render(
        request,
        "overlaps/item.html",
        {
            "item": item,
            "evidence": evidence,
            "evidence_rows": shown,
            "evidence_label": shown_label,
            "trend": trend,
            "rows": pairs,
            "here": request.get_full_path(),
            "view_actions": VIEW_ACTIONS,
        },
    )


def _evidence_shown(evidence: Evidence, source: str, week_raw: str | None) -> tuple[list[EvidenceRow], str]:
    """The evidence rows behind a count or a bar: one source and/or one week, all of them; else the top 30."""
    rows = evidence.rows
    label = []
    if source in evidence.counts:
        rows = [r for r in rows if r.source == source]
        label.append(source)
    try:
        week = parse_day(week_raw) if week_raw else None
    except BadParam:
        week = None
    if week:
        rows = [r for r in rows if week <= r.at.date() < week + timedelta(days=7)]
        label.append(f"week of {week:%d %b %Y}")
    if label:
        return rows, ", ".join(label)
    return rows[:30], ""


@pm_required
@require_POST
def overlap_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """PMs decide overlaps: confirm, dismiss, link as a dependency, or re-open."""
    pair = get_object_or_404(OverlapPair, pk=pk)
    target = request.POST.get("next") or reverse("overlaps:portfolio")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("overlaps:portfolio")
    if action not in ACTIONS:
        messages.error(request, f"Unknown action “{action}”: use confirm, dismiss, link or reopen.")
        return HttpResponseRedirect(target)
    try:
        decide(pair, action, request.user)
    except OverlapActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{ACTIONS[action]}: {pair.explanation[:120]}")
    return HttpResponseRedirect(target)
