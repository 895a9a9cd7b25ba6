from __future__ import annotations

from typing import Any

from django import template

from insights import kinds
from productops.ui.drill import rows_url

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


@register.filter
def insight_url(insight: Any) -> str:
    """The page of the object the insight is about (the theme, the experiment, the overlap...)."""
    return kinds.target_url(insight)


@register.simple_tag
def drill(table: str, base: Any, **params: Any) -> str:
    """`{% drill "tickets" drill_base tag=row.key %}`: the rows behind a count, in the page's scope."""
    return rows_url(table, base, **params)
