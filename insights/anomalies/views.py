"""The insights inbox (anomalies and incidents), their detail pages and the triage workflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from insights.models import Insight, InsightBand, InsightKind, InsightStatus, Severity
from insights.services import record_inbox_visit, transition
from productops.accounts.roles import pm_required
from productops.portfolio.models import Product, Team
from productops.signals.models import Metric, MetricPoint, Sensitivity, SupportTicket
from productops.ui import drill
from productops.ui.charts import chart_context, figure
from productops.ui.filters import ALL_TIME, Choice, Int, parse_filters

from . import selectors
from .bands import AFTER, BEFORE, band_frame
from .detect import detect
from .services import SIGNAL_LABELS, mute

PAGE_SIZE = 50
INBOX_PARAMS = {
    "signal": Choice(values=(*SIGNAL_LABELS, "incident", "goal", "research", "competitor", "delivery")),
    "severity": Int(low=0, high=4),
    "status": Choice(values=("open", *InsightStatus.values, "all")),
    "page": Int(low=1),
    "new": Choice(values=("1",)),
}
INBOX_KINDS = [InsightKind.ANOMALY, InsightKind.INCIDENT, InsightKind.GOAL_AT_RISK]
DELIVERY_KINDS = [InsightKind.DELIVERY_SLIP, InsightKind.CYCLE_TIME_JUMP]
STATUS_CHOICES = [("open", "Open (new or acknowledged)"), *InsightStatus.choices, ("all", "All")]


def _inbox_queryset(params: dict[str, str]) -> QuerySet[Insight]:
    # Anomalies and incidents, key results at risk (whose page is the key result, in the goals app),
    # redundant research (the two studies side by side), competitor mention spikes (the competitor), and
    # delivery slips and cycle-time jumps (whose pages are in the delivery app).
    qs = Insight.objects.filter(
        kind__in=[*INBOX_KINDS, InsightKind.REDUNDANT_RESEARCH, InsightKind.COMPETITOR_SPIKE, *DELIVERY_KINDS]
    ).select_related("product", "team")
    # A dimension's anomaly inside its total's anomaly is shown as a driver on the total, not twice.
    qs = qs.filter(Q(payload__parent__isnull=True) | Q(payload__parent=None))
    status = params.get("status") or "open"
    if status == "open":
        qs = qs.filter(status__in=[InsightStatus.NEW, InsightStatus.ACKNOWLEDGED])
    elif status in InsightStatus.values:
        qs = qs.filter(status=status)
    if params.get("product"):
        qs = qs.filter(products__slug=params["product"])
    if params.get("team"):  # every team the insight concerns (all owners of its product)
        qs = qs.filter(teams__slug=params["team"])
    signal = params.get("signal")
    if signal == "incident":
        qs = qs.filter(kind=InsightKind.INCIDENT)
    elif signal == "goal":
        qs = qs.filter(kind=InsightKind.GOAL_AT_RISK)
    elif signal == "research":
        qs = qs.filter(kind=InsightKind.REDUNDANT_RESEARCH)
    elif signal == "competitor":
        qs = qs.filter(kind=InsightKind.COMPETITOR_SPIKE)
    elif signal == "delivery":
        qs = qs.filter(kind__in=DELIVERY_KINDS)
    elif signal:
        qs = qs.filter(kind=InsightKind.ANOMALY, payload__signal=signal)
    if params.get("severity", "").isdigit():
        qs = qs.filter(severity__gte=int(params["severity"]))
    return qs.order_by("-severity", "-ends_at", "-pk")


@pm_required
def inbox(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, params=INBOX_PARAMS, default_range=ALL_TIME)
    params = {
        "product": filters.product.slug if filters.product else "",
        "team": filters.team.slug if filters.team else "",
        **{k: filters.get(k) for k in ("signal", "severity", "status")},
    }
    qs = _inbox_queryset(params)
    since = record_inbox_visit(request.user)
    new_only = filters.get("new") == "1" and since is not None
    fresh = Q(detected_at__gt=since) | Q(severity_changed_at__gt=since) if since else Q(pk__in=[])
    counts = qs.aggregate(
        new=Count("pk", filter=Q(detected_at__gt=since) if since else Q(pk__in=[])),
        changed=Count(
            "pk", filter=Q(severity_changed_at__gt=since, detected_at__lte=since) if since else Q(pk__in=[])
        ),
    )
    if new_only:
        qs = qs.filter(fresh)
    if not filters.all_time:  # what overlaps the range, as on the overview
        qs = qs.filter(Q(ends_at__date__gte=filters.start) | Q(ends_at__isnull=True)).filter(
            Q(starts_at__isnull=True) | Q(starts_at__date__lte=filters.end)
        )
    page = Paginator(qs, PAGE_SIZE).get_page(filters.get("page", "1"))
    for insight in page.object_list:
        insight.novelty = _novelty(insight, since)
    rest = {k: v for k, v in params.items() if v}
    if new_only:
        rest["new"] = "1"
    if not filters.all_time:
        rest.update({k: v for k, v in filters.params().items() if k in ("range", "from", "to")})
    context = {
        "filters": filters,
        "page_obj": page,
        "insights": page.object_list,
        "params": params,
        "querystring_without_page": urlencode(rest),
        "products": Product.objects.order_by("name"),
        "teams": Team.objects.order_by("name"),
        "signals": [
            *SIGNAL_LABELS.items(),
            ("incident", "Incidents"),
            ("goal", "Key results at risk"),
            ("research", "Redundant research"),
            ("competitor", "Competitor mention spikes"),
            ("delivery", "Delivery slips and cycle time"),
        ],
        "severities": Severity.choices,
        "statuses": STATUS_CHOICES,
        "filtered": bool(rest),
        "since": since,
        "new_only": new_only,
        "new_count": counts["new"],
        "changed_count": counts["changed"],
        "new_url": "?" + urlencode({**{k: v for k, v in rest.items() if k != "new"}, "new": "1"}),
        "all_url": "?" + urlencode({k: v for k, v in rest.items() if k != "new"}),
    }
    return render(request, "insights/inbox.html", context)


def _novelty(insight: Insight, since: datetime | None) -> str:
    """ "new" (detected since the last visit), "worse"/"better" (severity moved since), or ""."""
    if since is None:
        return ""
    if insight.detected_at > since:
        return "new"
    if insight.severity_changed_at and insight.severity_changed_at > since:
        previous = insight.previous_severity if insight.previous_severity is not None else insight.severity
        return "worse" if insight.severity > previous else "better"
    return ""


class TriageForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in ("acknowledge", "resolve", "mute", "reopen")])
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    until = forms.DateField(required=False, help_text="Mute until this day; empty means forever.")
    whole_series = forms.BooleanField(required=False, label="Mute every future anomaly of this metric/series")


class SensitivityForm(forms.Form):
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices)


def _series_frame(insight: Insight) -> pd.Series | None:
    """The insight's series, rebuilt from the signal tables, for the chart."""
    payload = insight.payload
    sid = payload.get("series_id")
    if not sid:
        return None
    if payload.get("metric_id"):
        frame, _ = selectors.metric_series([payload["metric_id"]])
    else:
        frame, _ = selectors.derived_series([insight.product_id] if insight.product_id else None)
    rows = frame[frame["series_id"] == sid]
    if rows.empty:
        return None
    return pd.Series(rows["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["ts"])).sort_index()


def _scored_view(insight: Insight, series: pd.Series, sensitivity: str) -> tuple[pd.DataFrame, int]:
    """For an anomaly written before bands were stored: rerun the detector on its series."""
    scored = detect(series, sensitivity=sensitivity)
    start = pd.Timestamp(insight.starts_at).tz_convert(None) if insight.starts_at else series.index[-1]
    end = pd.Timestamp(insight.ends_at).tz_convert(None) if insight.ends_at else series.index[-1]
    view = scored.join(series.rename("actual"))
    view = view[(view.index >= start - BEFORE) & (view.index <= end + AFTER)]
    step = (series.index[1] - series.index[0]).days if len(series) > 1 else 1
    return view, step


def _chart(insight: Insight, view: pd.DataFrame, step: int) -> dict[str, Any]:
    start = pd.Timestamp(insight.starts_at).tz_convert(None) if insight.starts_at else view.index[-1]
    end = pd.Timestamp(insight.ends_at).tz_convert(None) if insight.ends_at else view.index[-1]
    x = [f"{ts:%Y-%m-%d %H:%M}" for ts in view.index]
    # Each actual point opens the rows behind it: its day, or its week for weekly series.
    span = timedelta(days=max(step, 1) - 1)
    urls = [_drill(insight, ts.date(), ts.date() + span) for ts in view.index]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": view["upper"].round(4).tolist(),
            "name": "Expected range",
            "line": {"width": 0},
            "hoverinfo": "skip",
            "showlegend": False,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": view["lower"].round(4).tolist(),
            "name": "Expected range",
            "fill": "tonexty",
            "fillcolor": "rgba(0,114,178,0.15)",
            "line": {"width": 0},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": view["expected"].round(4).tolist(),
            "name": "Expected",
            "line": {"dash": "dot", "color": "#0072B2"},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": view["actual"].round(4).tolist(),
            "name": "Actual",
            "line": {"color": "#000000"},
            "marker": {"size": 3},
            **({"customdata": urls} if any(urls) else {}),
        },
    ]
    flagged = view[view["is_anomaly"]]
    if not flagged.empty:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Anomalous",
                "x": [f"{ts:%Y-%m-%d %H:%M}" for ts in flagged.index],
                "y": flagged["actual"].round(4).tolist(),
                "marker": {"color": "#D55E00", "size": 8},
            }
        )
    shade = {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": f"{start:%Y-%m-%d %H:%M}",
        "x1": f"{end:%Y-%m-%d %H:%M}",
        "y0": 0,
        "y1": 1,
        "fillcolor": "rgba(213,94,0,0.15)",
        "line": {"width": 0},
    }
    fig = figure(data, {"shapes": [shade], "yaxis": {"rangemode": "tozero"}})
    rows = [
        (
            format_html('<a href="{}">{}</a>', url, f"{ts:%Y-%m-%d}") if url else f"{ts:%Y-%m-%d}",
            _num(r.actual),
            _num(r.expected),
            _num(r.lower),
            _num(r.upper),
            "yes" if r.is_anomaly else "",
        )
        for (ts, r), url in zip(view.iterrows(), urls, strict=True)
    ]
    alt = (
        f"{insight.payload.get('label', 'Series')}: actual against the expected range; the anomaly is shaded."
    )
    return chart_context(fig, alt, ["Date", "Actual", "Expected", "Lower", "Upper", "Anomalous"], rows)


def _num(value: float) -> str:
    return "" if pd.isna(value) else f"{value:,.4g}"


def _drill(insight: Insight, start: date, end: date) -> str | None:
    """The rows page behind the anomaly's series between start and end (inclusive), or None."""
    payload = insight.payload
    scope = drill.period({}, start, end)
    if payload.get("metric_id"):
        return drill.rows_url(
            "metric-points",
            scope,
            metric=payload["metric_id"],
            dimension_key=payload.get("dimension_key", ""),
            dimension_value=payload.get("dimension_value") or None,
        )
    if payload.get("signal") == "tickets" and insight.product_id and insight.product:
        tag = payload.get("dimension_value") if payload.get("dimension_key") == "tag" else None
        return drill.rows_url("tickets", {**scope, "product": insight.product.slug}, tag=tag)
    return None


def _raw_rows(insight: Insight) -> tuple[list[str], list[list[Any]], str | None]:
    """A small table of the rows behind the anomaly, and a link to all of them (a sortable, exportable
    rows page)."""
    payload = insight.payload
    if not insight.starts_at or not insight.ends_at:
        return [], [], None
    lo, hi = insight.starts_at - timedelta(days=3), insight.ends_at + timedelta(days=1)
    link = _drill(insight, lo.date(), hi.date())
    if payload.get("metric_id"):
        points = MetricPoint.objects.filter(
            metric_id=payload["metric_id"],
            ts__gte=lo,
            ts__lt=hi,
            dimension_key=payload.get("dimension_key", ""),
        ).order_by("ts", "dimension_value")[:200]
        rows = [
            [
                f"{p.ts:%Y-%m-%d %H:%M}",
                f"{p.dimension_key}={p.dimension_value}" if p.dimension_key else "total",
                _num(p.value),
            ]
            for p in points
        ]
        return ["Time", "Series", "Value"], rows, link
    if payload.get("signal") == "tickets" and insight.product_id:
        tickets = SupportTicket.objects.filter(
            product_id=insight.product_id, opened_at__gte=lo, opened_at__lt=hi
        )
        if payload.get("dimension_key") == "tag":
            tag = payload.get("dimension_value", "")
            found = [t for t in tickets.order_by("opened_at")[:2000] if tag in (t.tags or [])][:100]
        else:
            found = list(tickets.order_by("opened_at")[:100])
        rows = [
            [f"{t.opened_at:%Y-%m-%d %H:%M}", t.subject, ", ".join(t.tags or []), t.status] for t in found
        ]
        return ["Opened", "Subject", "Tags", "Status"], rows, link
    return [], [], None


@pm_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    insight = get_object_or_404(selectors.anomaly_insights().select_related("product", "team"), pk=pk)
    metric = None
    chart = None
    if insight.kind == InsightKind.ANOMALY:
        if insight.payload.get("metric_id"):
            metric = Metric.objects.filter(pk=insight.payload["metric_id"]).first()
        band = InsightBand.objects.filter(insight=insight).first()
        if band is not None and band.points:  # stored by the detection run: no detector per request
            chart = _chart(insight, band_frame(band), band.step_days)
        else:
            series = _series_frame(insight)
            if series is not None and len(series):
                chart = _chart(
                    insight, *_scored_view(insight, series, metric.sensitivity if metric else "medium")
                )
    related = Insight.objects.none()
    if insight.starts_at and insight.ends_at:
        related = (
            Insight.objects.filter(
                product=insight.product,
                starts_at__lte=insight.ends_at + timedelta(days=3),
                ends_at__gte=insight.starts_at - timedelta(days=3),
            )
            .exclude(pk=insight.pk)
            .order_by("-severity", "starts_at")[:20]
        )
    headers, rows, rows_link = _raw_rows(insight)
    evidence = insight.payload.get("evidence", [])
    keys = [e["key"] for e in evidence if e.get("key")]
    ids = dict(Insight.objects.filter(kind=InsightKind.ANOMALY, key__in=keys).values_list("key", "pk"))
    for item in evidence:
        item["insight_id"] = ids.get(item.get("key"))
    context = {
        "insight": insight,
        "chart": chart,
        "drivers": insight.payload.get("drivers", []),
        "related": related,
        "evidence": evidence,
        "raw_headers": headers,
        "raw_rows": rows,
        "rows_link": rows_link,
        "events": insight.events.select_related("user")[:50],
        "triage_form": TriageForm(),
        "metric": metric,
        "sensitivity_form": SensitivityForm(initial={"sensitivity": metric.sensitivity}) if metric else None,
    }
    return render(request, "insights/detail.html", context)


@pm_required
@require_POST
def triage(request: HttpRequest, pk: int) -> HttpResponse:
    insight = get_object_or_404(selectors.anomaly_insights(), pk=pk)
    form = TriageForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "That action was not understood: choose acknowledge, resolve, mute or reopen."
        )
        return HttpResponseRedirect(reverse("insights:detail", args=[pk]))
    action, comment = form.cleaned_data["action"], form.cleaned_data["comment"]
    if action == "mute":
        day = form.cleaned_data["until"]
        until = datetime.combine(day, time.min, tzinfo=UTC) if day else None
        mute(insight, request.user, comment, until, form.cleaned_data["whole_series"])
    else:
        transition(insight, action, request.user, comment=comment)
    messages.success(request, f"{insight.title}: {InsightStatus(insight.status).label.lower()}.")
    return HttpResponseRedirect(reverse("insights:detail", args=[pk]))


@pm_required
@require_POST
def metric_sensitivity(request: HttpRequest, metric_id: int) -> HttpResponse:
    metric = get_object_or_404(Metric, pk=metric_id)
    form = SensitivityForm(request.POST)
    if form.is_valid():
        metric.sensitivity = form.cleaned_data["sensitivity"]
        metric.save(update_fields=["sensitivity"])
        messages.success(
            request,
            f"{metric.name}: sensitivity set to {metric.get_sensitivity_display().lower()}; "
            "it applies from the next recompute.",
        )
    else:
        messages.error(request, "Choose a sensitivity of low, medium or high.")
    back = request.POST.get("next", "")
    return HttpResponseRedirect(back if back.startswith("/insights/") else reverse("insights:inbox"))
