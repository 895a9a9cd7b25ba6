"""Plotly figure dicts for the feedback, NPS, support and experiment pages."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from productops.dashboards.charts import PALETTE, chart_context, figure


def _iso(values: Any) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d") for v in values]


def lines_chart(
    frame: pd.DataFrame, names: dict[str, str], alt: str, y_title: str = "Items per week"
) -> dict[str, Any] | None:
    """One line per series of a long (series_id, ts, value) frame."""
    if frame.empty:
        return None
    data, rows = [], []
    for i, (series_id, group) in enumerate(frame.groupby("series_id", sort=False)):
        name = names.get(str(series_id), str(series_id))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name[:40],
                "x": _iso(group["ts"]),
                "y": group["value"].tolist(),
                "line": {"color": PALETTE[i % len(PALETTE)]},
            }
        )
        rows += [(name, d, v) for d, v in zip(_iso(group["ts"]), group["value"].tolist(), strict=True)]
    fig = figure(data, {"yaxis": {"title": y_title, "rangemode": "tozero"}})
    return chart_context(fig, alt, ["Series", "Week", "Value"], rows)


def nps_trend_chart(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """NPS per period with its 95% CI as a shaded band; periods below the minimum sample are hollow."""
    if not points:
        return None
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
        },
    ]
    rows = [
        (
            p["label"],
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
    weekly: pd.DataFrame, columns: list[tuple[str, str]], alt: str, y_title: str
) -> dict[str, Any] | None:
    if weekly.empty:
        return None
    x = _iso(weekly["week"])
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": label,
            "x": x,
            "y": [None if pd.isna(v) else round(float(v), 2) for v in weekly[col]],
        }
        for col, label in columns
    ]
    rows = [
        (
            d,
            *[
                None if pd.isna(weekly[col].iloc[i]) else round(float(weekly[col].iloc[i]), 2)
                for col, _ in columns
            ],
        )
        for i, d in enumerate(x)
    ]
    fig = figure(data, {"yaxis": {"title": y_title, "rangemode": "tozero"}})
    return chart_context(fig, alt, ["Week", *[label for _, label in columns]], rows)


def lift_chart(verdicts: list[Any], title_of: Any = None) -> dict[str, Any] | None:
    """Relative lift per (metric, variant) with its 95% CI as error bars; zero marked."""
    usable = [v for v in verdicts if not math.isnan(v.lift)]
    if not usable:
        return None
    labels = [(title_of(v) if title_of else f"{v.metric_key} · {v.variant}") for v in usable]
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
            lab,
            f"{v.lift:+.2%}",
            f"{v.lift_low:+.2%} to {v.lift_high:+.2%}",
            f"{v.p_value:.3g}",
            f"{v.p_adjusted:.3g}",
            v.verdict,
        )
        for lab, v in zip(labels, usable, strict=True)
    ]
    return chart_context(
        figure(data, layout),
        "Relative lift per metric and variant with 95% confidence intervals",
        ["Metric · variant", "Lift", "95% CI", "p", "p (Holm)", "Verdict"],
        rows,
    )
