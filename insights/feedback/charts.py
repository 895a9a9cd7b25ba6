"""Plotly figure dicts for the feedback, NPS, support and experiment pages."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
from django.utils.html import format_html

from productops.ui.charts import PALETTE, chart_context, figure

# Where a chart point leads: the rows behind it (see productops.ui.drill), or None.
UrlOf = Callable[[str, pd.Timestamp], str | None]


def _iso(values: Any) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d") for v in values]


def _linked(text: str, url: str | None) -> Any:
    """A cell of a chart's data table that links to the rows behind the point (for keyboard users)."""
    return format_html('<a href="{}">{}</a>', url, text) if url else text


def lines_chart(
    frame: pd.DataFrame,
    names: dict[str, str],
    alt: str,
    y_title: str = "Items per week",
    url_of: UrlOf | None = None,
) -> dict[str, Any] | None:
    """One line per series of a long (series_id, ts, value) frame; `url_of` makes points drill down."""
    if frame.empty:
        return None
    data, rows = [], []
    for i, (series_id, group) in enumerate(frame.groupby("series_id", sort=False)):
        name = names.get(str(series_id), str(series_id))
        urls = [url_of(str(series_id), pd.Timestamp(t)) for t in group["ts"]] if url_of else []
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines",
            "name": name[:40],
            "x": _iso(group["ts"]),
            "y": group["value"].tolist(),
            "line": {"color": PALETTE[i % len(PALETTE)]},
        }
        if urls:
            trace["customdata"] = urls
        data.append(trace)
        rows += [
            (name, _linked(d, urls[j] if urls else None), v)
            for j, (d, v) in enumerate(zip(_iso(group["ts"]), group["value"].tolist(), strict=True))
        ]
    fig = figure(data, {"yaxis": {"title": y_title, "rangemode": "tozero"}})
    return chart_context(fig, alt, ["Series", "Week", "Value"], rows)


def nps_trend_chart(
    points: list[dict[str, Any]], url_of: Callable[[dict[str, Any]], str] | None = None
) -> dict[str, Any] | None:
    """NPS per period with its 95% CI as a shaded band; periods below the minimum sample are hollow.
    `url_of(point)` makes each period drill down to its responses."""
    if not points:
        return None
    urls = [url_of(p) for p in points] if url_of else None
    x = [p["period"].strftime("%Y-%m-%d") for p in points]
    res = [p["result"] for p in points]
    low = [None if math.isnan(r.ci_low) else round(r.ci_low, 1) for r in res]
    high = [None if math.isnan(r.ci_high) else round(r.ci_high, 1) for r in res]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": high,
            "line": {"width": 0},
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": low,
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": "rgba(0,114,178,0.18)",
            "name": "95% CI",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [round(r.nps, 1) for r in res],
            "name": "NPS",
            "line": {"color": PALETTE[0]},
            "marker": {"symbol": ["circle" if r.enough else "circle-open" for r in res], "size": 8},
            **({"customdata": urls} if urls else {}),
        },
    ]
    rows = [
        (
            _linked(p["label"], url_of(p) if url_of else None),
            f"{r.nps:.1f}",
            f"{r.ci_low:.1f} to {r.ci_high:.1f}",
            r.n,
            "" if r.enough else "low sample",
        )
        for p, r in zip(points, res, strict=True)
    ]
    fig = figure(data, {"yaxis": {"title": "NPS", "range": [-100, 100]}})
    return chart_context(
        fig, "NPS per period with 95% confidence band", ["Period", "NPS", "95% CI", "n", "Note"], rows
    )


def support_chart(
    weekly: pd.DataFrame,
    columns: list[tuple[str, str]],
    alt: str,
    y_title: str,
    url_of: Callable[[pd.Timestamp], str] | None = None,
) -> dict[str, Any] | None:
    """Weekly support measures; `url_of(week)` makes each week drill down to its tickets."""
    if weekly.empty:
        return None
    x = _iso(weekly["week"])
    urls = [url_of(pd.Timestamp(w)) for w in weekly["week"]] if url_of else None
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": label,
            "x": x,
            "y": [None if pd.isna(v) else round(float(v), 2) for v in weekly[col]],
            **({"customdata": urls} if urls else {}),
        }
        for col, label in columns
    ]
    values = [[None if pd.isna(v) else round(float(v), 2) for v in weekly[col]] for col, _ in columns]
    rows = [
        (_linked(d, urls[i] if urls else None), *[column[i] for column in values]) for i, d in enumerate(x)
    ]
    fig = figure(data, {"yaxis": {"title": y_title, "rangemode": "tozero"}})
    return chart_context(fig, alt, ["Week", *[label for _, label in columns]], rows)


def lift_chart(
    verdicts: list[Any], title_of: Any = None, url_of: Callable[[Any], str] | None = None
) -> dict[str, Any] | None:
    """Relative lift per (metric, variant) with its 95% CI as error bars; zero marked. `url_of(verdict)`
    makes each point drill down (to the experiment, or to the daily results behind the verdict)."""
    usable = [v for v in verdicts if not math.isnan(v.lift)]
    if not usable:
        return None
    labels = [(title_of(v) if title_of else f"{v.metric_key} · {v.variant}") for v in usable]
    urls = [url_of(v) for v in usable] if url_of else None
    lift = [round(v.lift * 100, 2) for v in usable]
    plus = [round((v.lift_high - v.lift) * 100, 2) if not math.isnan(v.lift_high) else 0 for v in usable]
    minus = [round((v.lift - v.lift_low) * 100, 2) if not math.isnan(v.lift_low) else 0 for v in usable]
    colours = {"winner": "#009E73", "loser": "#D55E00"}
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "x": lift,
            "y": labels,
            "name": "Relative lift (%)",
            "error_x": {"type": "data", "array": plus, "arrayminus": minus, "visible": True},
            "marker": {"size": 10, "color": [colours.get(v.verdict, "#6b7280") for v in usable]},
            **({"customdata": urls} if urls else {}),
        }
    ]
    layout = {
        "xaxis": {"title": "Relative lift, % (95% CI)", "zeroline": True, "zerolinewidth": 2},
        "yaxis": {"automargin": True},
        "hovermode": "closest",
        "height": max(220, 60 + 36 * len(usable)),
    }
    rows = [
        (
            _linked(lab, urls[i] if urls else None),
            f"{v.lift:+.2%}",
            f"{v.lift_low:+.2%} to {v.lift_high:+.2%}",
            f"{v.p_value:.3g}",
            f"{v.p_adjusted:.3g}",
            v.verdict,
        )
        for i, (lab, v) in enumerate(zip(labels, usable, strict=True))
    ]
    return chart_context(
        figure(data, layout),
        "Relative lift per metric and variant with 95% confidence intervals",
        ["Metric · variant", "Lift", "95% CI", "p", "p (Holm)", "Verdict"],
        rows,
    )
