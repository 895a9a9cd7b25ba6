"""Charts of the Competitors pages; every point links to the mentions behind it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from productops.ui import drill
from productops.ui.charts import PALETTE, chart_context, figure
from productops.ui.filters import Filters

from .models import Competitor

ROLLING_WEEKS = 4


def share_of_voice(table: pd.DataFrame, filters: Filters, slugs: dict[str, str]) -> dict[str, Any] | None:
    """Each competitor's share of all competitor mentions, over a rolling four weeks (a week holds too
    few mentions for a share to mean much), stacked to 100%. A point opens the mentions of its four
    weeks for that competitor."""
    if table.empty:
        return None
    base = drill.drill_base(filters)
    rolling = table.rolling(ROLLING_WEEKS, min_periods=1).sum()
    totals = rolling.sum(axis=1).replace(0, 1)
    data = []
    for i, name in enumerate(rolling.columns):
        urls = [
            drill.rows_url(
                "competitor-mentions",
                drill.period(
                    base,
                    (w - pd.Timedelta(weeks=ROLLING_WEEKS - 1)).date(),
                    (w + pd.Timedelta(days=6)).date(),
                ),
                competitor=slugs.get(name, ""),
            )
            for w in rolling.index
        ]
        share = (rolling[name] / totals * 100).round(1)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "stackgroup": "one",
                "name": name,
                "x": [w.strftime("%Y-%m-%d") for w in rolling.index],
                "y": share.tolist(),
                "text": [f"{int(n)} mentions in 4 weeks" for n in rolling[name]],
                "line": {"color": PALETTE[i % len(PALETTE)]},
                "customdata": urls,
                "hovertemplate": "%{y:.0f}% (%{text})<extra>" + str(name) + "</extra>",
            }
        )
    fig = figure(data, {"height": 320, "yaxis": {"title": {"text": "Share of voice (%)"}, "range": [0, 100]}})
    headers = [
        "Week",
        *[f"{c} (that week)" for c in table.columns],
        *[f"{c} (4 weeks)" for c in table.columns],
    ]
    rows = [
        [w.strftime("%Y-%m-%d"), *[int(v) for v in table.loc[w]], *[int(v) for v in rolling.loc[w]]]
        for w in table.index
    ]
    return chart_context(fig, "Share of competitor mentions, rolling four weeks", headers, rows)


def weekly_mentions(table: pd.DataFrame, filters: Filters, competitor: Competitor) -> dict[str, Any] | None:
    if table.empty:
        return None
    series = table[competitor.name] if competitor.name in table.columns else table.sum(axis=1)
    base = drill.drill_base(filters)
    urls = [
        drill.rows_url("competitor-mentions", drill.week(base, w.date()), competitor=competitor.slug)
        for w in series.index
    ]
    data = [
        {
            "type": "bar",
            "name": competitor.name,
            "x": [w.strftime("%Y-%m-%d") for w in series.index],
            "y": [int(v) for v in series],
            "marker": {"color": PALETTE[0]},
            "customdata": urls,
            "hovertemplate": "Week of %{x}: %{y} mentions<extra></extra>",
        }
    ]
    fig = figure(data, {"height": 280, "yaxis": {"title": {"text": "Mentions"}}})
    rows = [[w.strftime("%Y-%m-%d"), int(v)] for w, v in series.items()]
    return chart_context(fig, f"Mentions of {competitor.name} per week", ["Week", "Mentions"], rows)
