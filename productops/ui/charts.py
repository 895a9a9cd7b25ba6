"""Chart context for templates/partials/chart_card.html.

Figures are plain dicts in Plotly's JSON schema, built directly from frames: going through
plotly.graph_objects validation on every request costs far more than it checks. charts.js draws them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
_ids = itertools.count(1)

BASE_LAYOUT: dict[str, Any] = {
    "margin": {"l": 48, "r": 16, "t": 16, "b": 40},
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.2},
    "colorway": PALETTE,
}


def figure(data: list[dict[str, Any]], layout: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    return {"data": data, "layout": {**BASE_LAYOUT, **(layout or {})}, "config": config}


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 500) -> SafeString:
    head = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows[:limit]),
    )
    return format_html(
        "<div class='table-wrap'><table class='table'><thead><tr>{}</tr></thead>"
        "<tbody>{}</tbody></table></div>",
        head,
        body,
    )


def chart_context(
    fig: dict[str, Any],
    alt: str,
    headers: Sequence[str] = (),
    rows: Sequence[Sequence[Any]] = (),
    chart_id: str | None = None,
) -> dict[str, Any]:
    """Everything chart_card.html needs: a unique id, the figure, a text alternative and its table."""
    cid = chart_id or f"chart-{next(_ids)}"
    return {
        "id": cid,
        "data_id": f"{cid}-data",
        "figure": fig,
        "alt": alt,
        "table": table_html(headers, rows) if headers else None,
    }
