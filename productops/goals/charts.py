"""The projection chart of a key result: the observed value, the projection with its interval, the target."""

from __future__ import annotations

from typing import Any

from productops.ui.charts import PALETTE, chart_context, figure

from .models import KeyResult


def projection_chart(kr: KeyResult) -> dict[str, Any] | None:
    p = kr.projection or {}
    observed = p.get("observed_path") or []
    ahead = p.get("projected_path") or []
    if not observed and not ahead:
        return None
    unit = f" {kr.unit}" if kr.unit else ""
    what = {"sum": "Total so far", "mean": "Average so far", "last": "Daily value"}.get(
        kr.aggregation, "Value"
    )
    data: list[dict[str, Any]] = []
    if ahead:
        x = [a[0] for a in ahead]
        data += [
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": [a[3] for a in ahead],
                "line": {"width": 0},
                "showlegend": False,
                "hoverinfo": "skip",
                "name": "upper",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": [a[2] for a in ahead],
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": "rgba(0,114,178,0.15)",
                "name": f"{p.get('level', 0.95):.0%} interval",
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": [a[1] for a in ahead],
                "line": {"color": PALETTE[0], "dash": "dash"},
                "name": "Projection",
                "hovertemplate": "%{x}: %{y:,.4~g}" + unit + "<extra>projection</extra>",
            },
        ]
    if observed:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [o[0] for o in observed],
                "y": [o[1] for o in observed],
                "line": {"color": PALETTE[1], "width": 2},
                "name": what,
                "hovertemplate": "%{x}: %{y:,.4~g}" + unit + "<extra></extra>",
            }
        )
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": kr.target_value,
            "y1": kr.target_value,
            "line": {"color": "#D55E00", "width": 1.5, "dash": "dot"},
        }
    ]
    annotations = [
        {
            "xref": "paper",
            "x": 0,
            "y": kr.target_value,
            "text": f"target {kr.target_value:,.4g}{unit}",
            "showarrow": False,
            "yanchor": "bottom",
            "xanchor": "left",
            "font": {"color": "#D55E00"},
        }
    ]
    fig = figure(
        data,
        {"height": 360, "shapes": shapes, "annotations": annotations, "yaxis": {"title": {"text": kr.unit}}},
    )
    rows = [[o[0], f"{o[1]:,.4g}", "", "", "observed"] for o in observed] + [
        [a[0], f"{a[1]:,.4g}", f"{a[2]:,.4g}", f"{a[3]:,.4g}", "projected"] for a in ahead
    ]
    alt = (
        f"{kr.title}: projected {p.get('projected', 0):,.4g}{unit} at {p.get('period_end', '')} "
        f"against a target of {kr.target_value:,.4g}{unit}"
    )
    return chart_context(fig, alt, ["Day", "Value", "Low", "High", "Kind"], rows)
