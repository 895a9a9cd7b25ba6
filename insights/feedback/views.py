"""Feedback, NPS, support and experiment pages. Thin: selectors read, services write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pandas as pd
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from productops.accounts.roles import pm_required, role_of
from productops.core.versions import bump
from productops.portfolio.models import PortfolioItem
from productops.signals.models import Experiment, ExperimentStatus
from productops.ui import drill
from productops.ui.cache import cached
from productops.ui.filters import filter_bar_context

from . import charts, nps, selectors, services, support_rollup
from .experiments import VERDICT_COLOURS, build_reports
from .models import EvidenceLink, FeedbackSource, Theme, ThemeMember, ThemeStatus


def _base_context(request: HttpRequest) -> dict[str, Any]:
    filters = selectors.parse_filters(request)
    return {
        **filter_bar_context(filters),
        "drill_base": drill.drill_base(filters),
        "sources": FeedbackSource.choices,
    }


@pm_required
def themes(request: HttpRequest) -> HttpResponse:
    ctx = _base_context(request)
    filters, base = ctx["filters"], ctx["drill_base"]

    def build() -> dict[str, Any]:
        rows = selectors.theme_rows(filters)
        top = [r["theme"] for r in rows[:6]]
        # Spikes compare a theme's recent weeks with its own history, so they read every week of the
        # listed themes (from the weekly rollup); the chart counts the filtered weeks of the top 6 in the database.
        history = selectors.theme_history([r["theme"].pk for r in rows])
        spikes = {s["theme_id"]: s for s in selectors.theme_spikes(history)} if rows else {}
        for row in rows:
            row["spike"] = spikes.get(row["theme"].pk)
        chart = None
        if top:
            frame = selectors.theme_weekly_counts(selectors.filtered_members(filters).filter(theme__in=top))
            if not frame.empty:
                chart = charts.lines_chart(
                    frame,
                    {f"theme:{t.pk}": t.name for t in top},
                    "Weekly volume of the largest feedback themes",
                    url_of=lambda sid, ts: drill.rows_url(
                        "theme-members", drill.week(base, ts.date()), theme=sid.split(":")[1]
                    ),
                )
        return {
            "rows": rows,
            "ranked_by_change": sorted(rows, key=lambda r: -r["theme"].change)[:5],
            "chart": chart,
            "sentiment_chart": charts.lines_chart(
                selectors.page_sentiment_frame(filters),
                {},
                "Mean sentiment of feedback per week and product",
                y_title="Sentiment (-1 to 1)",
            ),
            "support": _support_kpis(support_rollup.weekly(filters), base),
        }

    return _cached_body(request, "feedback", "feedback/themes.html", "feedback/_themes_body.html", ctx, build)


def _cached_body(
    request: HttpRequest,
    name: str,
    template: str,
    body_template: str,
    ctx: dict[str, Any],
    build: Callable[[], dict[str, Any]],
) -> HttpResponse:
    """Render the page's body from the rollups once per data version, URL and role, and reuse it (as the
    dashboards do): it holds no per-user data, and syncs, recomputes and a PM's theme edits bump the
    version, so it is never stale."""
    body = cached(
        f"page:{name}",
        (request.get_full_path(), role_of(request.user)),
        lambda: render_to_string(body_template, {**ctx, **build()}, request=request),
    )
    return render(request, template, {"body": mark_safe(body)})  # noqa: S308


def _support_kpis(weekly: pd.DataFrame, base: dict[str, Any]) -> dict[str, Any] | None:
    if weekly.empty:
        return None
    last = weekly.tail(4)
    first_week = pd.Timestamp(last["week"].iloc[0]).date()
    last_week = pd.Timestamp(last["week"].iloc[-1]).date()
    return {
        "volume_url": drill.rows_url(
            "tickets", drill.period(base, first_week, last_week + timedelta(days=6))
        ),
        "backlog_url": drill.rows_url("tickets", base, open_at=(last_week + timedelta(days=7)).isoformat()),
        "backlog_at": last_week + timedelta(days=6),
        "volume": int(last["volume"].sum()),
        "backlog": int(weekly["backlog"].iloc[-1]),
        "frt_p50": last["frt_p50"].median(),
        "res_p50": last["res_p50"].median(),
        "csat": last["csat"].mean(),
    }


@pm_required
def theme_detail(request: HttpRequest, pk: int) -> HttpResponse:
    theme = get_object_or_404(Theme.objects.select_related("product"), pk=pk)
    if theme.status == ThemeStatus.MERGED and theme.merged_into_id:
        messages.info(request, f"“{theme.name}” was merged into this theme.")
        return redirect("feedback:theme", pk=theme.merged_into_id)
    frame = selectors.theme_volume_frame(theme_ids=[theme.pk])
    if frame.empty:  # a retired theme keeps its members for history
        rows = list(ThemeMember.objects.filter(theme=theme).values_list("ts", flat=True))
        if rows:
            f = pd.DataFrame({"ts": selectors._week_floor(pd.Series(rows))})
            counts = f.groupby("ts").size().rename("value").reset_index()
            counts["series_id"] = f"theme:{theme.pk}"
            frame = selectors._zero_fill(counts[["series_id", "ts", "value"]])
    chart = charts.lines_chart(
        frame,
        {f"theme:{theme.pk}": theme.name},
        f"Weekly volume of {theme.name}",
        url_of=lambda sid, ts: drill.rows_url("theme-members", drill.week({}, ts.date()), theme=theme.pk),
    )
    ctx_sentiment = charts.lines_chart(
        selectors.sentiment_weekly_frame(
            product_ids=[theme.product_id] if theme.product_id else None, theme_ids=[theme.pk]
        ),
        {f"theme:{theme.pk}:sentiment": theme.name},
        f"Mean sentiment per week of {theme.name} and its product",
        y_title="Sentiment (-1 to 1)",
    )
    members = ThemeMember.objects.filter(theme=theme)
    counts = {
        s: c for s, c in pd.Series(list(members.values_list("source", flat=True))).value_counts().items()
    }
    ctx = {
        "theme": theme,
        "drill_base": {"range": drill.ALL_TIME},
        "chart": chart,
        "sentiment_chart": ctx_sentiment,
        "quotes": list(members.order_by("-weight")[:8]),
        "recent": list(members.order_by("-ts")[:8]),
        "counts": counts,
        "spike": next(iter(selectors.theme_spikes(frame)), None),
        "links": list(EvidenceLink.objects.filter(theme=theme).select_related("item").order_by("-score")),
        "merge_choices": Theme.objects.filter(product=theme.product, status=ThemeStatus.ACTIVE)
        .exclude(pk=theme.pk)
        .order_by("-size")[:50],
    }
    return render(request, "feedback/theme_detail.html", ctx)


@pm_required
@require_POST
def theme_rename(request: HttpRequest, pk: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=pk)
    name = request.POST.get("name", "").strip()
    services.rename_theme(theme, name)
    bump()  # cached page pieces name the theme
    messages.success(request, f"Renamed to “{theme.name}”." if name else "Back to the computed label.")
    return redirect("feedback:theme", pk=pk)


@pm_required
@require_POST
def theme_merge(request: HttpRequest, pk: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=pk)
    try:
        other = Theme.objects.get(pk=int(request.POST.get("other", "0")), status=ThemeStatus.ACTIVE)
    except (ValueError, Theme.DoesNotExist):
        messages.error(request, "Pick an active theme to merge into this one.")
        return redirect("feedback:theme", pk=pk)
    services.merge_themes(theme, [other])
    bump()
    messages.success(request, f"Merged “{other.name}” into “{theme.name}”.")
    return redirect("feedback:theme", pk=pk)


@pm_required
@require_POST
def theme_split(request: HttpRequest, pk: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=pk)
    try:
        children = services.split_theme(theme)
        bump()
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("feedback:theme", pk=pk)
    messages.success(request, "Split into " + ", ".join(f"“{c.name}”" for c in children) + ".")
    return redirect("feedback:theme", pk=children[0].pk)


@pm_required
@require_POST
def link_decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    link = get_object_or_404(EvidenceLink, pk=pk)
    if action not in {"confirm", "reject"}:
        messages.error(request, "Unknown action; use confirm or reject.")
    else:
        services.decide_link(link, action == "confirm", request.user)
        bump()
        messages.success(request, f"Link to “{link.item.title}” {action}ed.")
    nxt = request.POST.get("next", "")
    if nxt.startswith("/") and not nxt.startswith("//"):
        return HttpResponseRedirect(nxt)
    return redirect("feedback:theme", pk=link.theme_id)


@pm_required
def item_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(PortfolioItem, pk=pk)
    return render(
        request, "feedback/item_evidence.html", {"item": item, "evidence": selectors.item_evidence(pk)}
    )


@pm_required
def nps_page(request: HttpRequest) -> HttpResponse:
    ctx = _base_context(request)
    frame = nps.responses_frame(ctx["filters"])
    points = nps.trend(frame)
    overall = nps.stats.nps(frame["score"].to_numpy(), nps.min_sample()) if not frame.empty else None
    ctx.update(
        {
            "overall": overall,
            "chart": charts.nps_trend_chart(
                points,
                url_of=lambda p: drill.rows_url("nps", drill.month(ctx["drill_base"], p["period"].date())),
            ),
            "shifts": nps.shifts(points, 0.05),
            "segments": [{**s, "drill": f"{s['key']}:{s['value']}"} for s in nps.segment_breakdown(frame)],
            "comments": nps.comments_by_category(frame),
            "min_sample": nps.min_sample(),
            "segment_options": sorted({f"{s['key']}:{s['value']}" for s in nps.segment_breakdown(frame)})
            if not frame.empty
            else [],
        }
    )
    return render(request, "feedback/nps.html", ctx)


@pm_required
def support_page(request: HttpRequest) -> HttpResponse:
    ctx = _base_context(request)
    filters, base = ctx["filters"], ctx["drill_base"]

    def build() -> dict[str, Any]:
        weekly = support_rollup.weekly(filters)
        return {
            "kpis": _support_kpis(weekly, base),
            "volume_chart": support_chart_or_none(
                weekly,
                [("volume", "Opened"), ("backlog", "Backlog")],
                "Tickets opened per week and backlog at week end",
                "Tickets",
                base,
            ),
            "time_chart": support_chart_or_none(
                weekly,
                [
                    ("frt_p50", "First response p50"),
                    ("frt_p90", "First response p90"),
                    ("res_p50", "Resolution p50"),
                    ("res_p90", "Resolution p90"),
                ],
                "First-response and resolution time per week, median and p90, in (business) hours",
                "Hours",
                base,
            ),
            "csat_chart": support_chart_or_none(
                weekly, [("csat", "CSAT (1-5)")], "Mean CSAT per week", "CSAT", base
            ),
            "by_tag": support_rollup.breakdown(filters, "tag"),
            "by_channel": support_rollup.breakdown(filters, "channel"),
        }

    return _cached_body(
        request, "support", "feedback/support.html", "feedback/_support_body.html", ctx, build
    )


def support_chart_or_none(
    weekly: pd.DataFrame, columns: list[tuple[str, str]], alt: str, y: str, base: dict[str, Any]
) -> Any:
    """A weekly support chart whose points open the tickets opened that week."""
    return charts.support_chart(
        weekly, columns, alt, y, url_of=lambda w: drill.rows_url("tickets", drill.week(base, w.date()))
    )


def experiment_sources(request: HttpRequest) -> dict[str, Any]:
    """What can fill this page, said exactly: the installed connectors that write experiment results,
    and the CSV kind for them when the import offers one (Optimizely and in-house tools export to it)."""
    from connectors.base import REGISTRY
    from productops.accounts.roles import Role, has_role
    from productops.signals.csv_import import KINDS
    from productops.signals.models import ExperimentResult

    connectors = sorted(
        c.label for c in REGISTRY.values() if c.family == "experiments" or "experiments" in c.also_fills
    )
    csv_kind = next(
        (k for k in KINDS.values() if getattr(k, "model", None) in (Experiment, ExperimentResult)), None
    )
    return {
        "experiment_connectors": connectors,
        "experiment_csv_label": f"CSV: {csv_kind.label[:1].lower()}{csv_kind.label[1:]}" if csv_kind else "",
        "can_connect": has_role(request.user, Role.LEAD),
    }


@pm_required
def experiments_page(request: HttpRequest) -> HttpResponse:
    ctx = _base_context(request)
    qs = (
        Experiment.objects.exclude(status=ExperimentStatus.DRAFT)
        .select_related("product")
        .prefetch_related("variants")
        .order_by("-started_at")
    )
    if ctx["filters"].product:
        qs = qs.filter(product=ctx["filters"].product)
    if ctx["filters"].team:  # an experiment has an owning team
        qs = qs.filter(team=ctx["filters"].team)
    reports = build_reports(qs)
    primaries = [r.primary for r in reports if r.primary]
    by_id = {id(r.primary): r for r in reports if r.primary}
    ctx.update(
        {
            **experiment_sources(request),
            "running": [r for r in reports if r.experiment.status == ExperimentStatus.RUNNING],
            "finished": [r for r in reports if r.experiment.status != ExperimentStatus.RUNNING],
            "colours": VERDICT_COLOURS,
            "chart": charts.lift_chart(
                primaries,
                lambda v: f"{by_id[id(v)].experiment.name[:30]} · {v.variant}",
                url_of=lambda v: reverse("feedback:experiment", args=[by_id[id(v)].experiment.pk]),
            ),
        }
    )
    return render(request, "feedback/experiments.html", ctx)


@pm_required
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.prefetch_related("variants"), pk=pk)
    peers = list(Experiment.objects.filter(product=experiment.product).exclude(surface=""))
    reports = build_reports(peers if experiment in peers else [experiment])
    report = next(r for r in reports if r.experiment.pk == experiment.pk)
    return render(
        request,
        "feedback/experiment_detail.html",
        {
            "report": report,
            "results_base": {"range": drill.ALL_TIME, "experiment": experiment.pk},
            "chart": charts.lift_chart(
                report.verdicts,
                url_of=lambda v: drill.rows_url(
                    "experiment-results",
                    {"range": drill.ALL_TIME},
                    experiment=experiment.pk,
                    variant=v.variant,
                    metric_key=v.metric_key,
                ),
            ),
            "colours": VERDICT_COLOURS,
            "back": reverse("feedback:experiments"),
        },
    )
