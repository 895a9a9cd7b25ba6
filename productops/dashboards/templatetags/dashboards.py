from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from productops.dashboards.drill import rows_url

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f}%"


@register.filter
def metric_value(value: float | None, unit: str = "count") -> str:
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "currency":
        return f"{value:,.0f}"
    if unit == "seconds":
        return f"{value:,.0f}s"
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.2f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


@register.filter
def change_class(change: float | None, good_direction: str = "up") -> str:
    """good/bad/neutral for a change, given which direction is good for the metric."""
    if change is None or abs(change) < 0.005 or good_direction == "none":
        return "neutral"
    up = change > 0
    return "good" if up == (good_direction == "up") else "bad"


# Where each insight kind is shown; a page not installed falls back to the inbox.
INSIGHT_PAGES = {
    "anomaly": "insights:detail",
    "incident": "insights:detail",
    "overlap": "overlaps:detail",
    "theme": "feedback:theme",
    "nps_shift": "feedback:nps",
    "experiment_verdict": "feedback:experiment",
}


@register.filter
def insight_url(insight: Any) -> str:
    name = INSIGHT_PAGES.get(insight.kind)
    if name:
        for args in ([insight.pk], []):
            try:
                return reverse(name, args=args)
            except NoReverseMatch:
                continue
    try:
        return reverse("insights:inbox")
    except NoReverseMatch:
        return reverse("dashboards:overview")


@register.simple_tag
def drill(table: str, base: Any, **params: Any) -> str:
    """`{% drill "tickets" drill_base tag=row.key %}`: the rows behind a count, in the page's scope."""
    return rows_url(table, base, **params)
