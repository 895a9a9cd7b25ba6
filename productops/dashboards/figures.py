"""Plotly figure dicts for the dashboards, built straight from frames (see charts.py for why)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from productops.ui.charts import PALETTE, figure

GRANULARITIES = {"day": "D", "week": "W-MON", "month": "MS"}


def sparkline(x: list[str], y: list[float], anomalies: list[str], colour: str = PALETTE[0]) -> dict[str, Any]:
    points = dict(zip(x, y, strict=True))
    marked = [d for d in anomalies if d in points]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": y,
            "line": {"color": colour, "width": 1.6},
            "hovertemplate": "%{x}: %{y:,.4~g}<extra></extra>",
            "name": "value",
        }
    ]
    if marked:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": marked,
                "y": [points[d] for d in marked],
                "marker": {"color": "#D55E00", "size": 7, "symbol": "diamond"},
                "name": "anomaly",
                "hovertemplate": "Anomaly %{x}<extra></extra>",
            }
        )
    layout = {
        "height": 70,
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "showlegend": False,
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "hovermode": "closest",
    }
    return figure(data, layout, staticPlot=False, displayModeBar=False)


def resample(frame: pd.DataFrame, granularity: str, how: str) -> pd.DataFrame:
    """Roll a (series, day, value) long frame up to week or month; `how` is sum or mean."""
    if granularity == "day" or frame.empty:
        return frame
    rule = GRANULARITIES[granularity]
    grouped = frame.set_index("day").groupby(["series"])["value"].resample(rule, label="left", closed="left")
    out = (grouped.sum() if how == "sum" else grouped.mean()).reset_index()
    return out


def explorer_figure(
    traces: list[dict[str, Any]], notes: list[dict[str, Any]], y_title: str = ""
) -> dict[str, Any]:
    """`traces`: name, x (iso dates), y, urls (drill-down per point), dash (for comparison)."""
    data = []
    for i, t in enumerate(traces):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if len(t["x"]) <= 120 else "lines",
                "name": t["name"],
                "x": t["x"],
                "y": t["y"],
                "customdata": t["urls"],
                "line": {"color": t.get("colour", PALETTE[i % len(PALETTE)]), "dash": t.get("dash", "solid")},
                "marker": {"size": 4},
                "hovertemplate": "%{x}: %{y:,.4~g}<extra>" + t["name"].replace("<", "") + "</extra>",
            }
        )
    symbols = {"anomaly": "#D55E00", "flag": "#CC79A7", "experiment": "#009E73", "release": "#0072B2"}
    shapes, annotations = [], []
    for note in notes[:60]:
        day = note["day"].isoformat() if isinstance(note["day"], date) else note["day"]
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": day,
                "x1": day,
                "y0": 0,
                "y1": 1,
                "line": {"color": symbols.get(note["kind"], "#999"), "width": 1, "dash": "dot"},
            }
        )
        annotations.append(
            {
                "x": day,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": note["kind"][0].upper(),
                "hovertext": note["text"],
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": symbols.get(note["kind"], "#999"), "size": 11},
            }
        )
    layout = {
        "height": 420,
        "shapes": shapes,
        "annotations": annotations,
        "yaxis": {"title": {"text": y_title}},
        "hovermode": "closest",
    }
    return figure(data, layout)
