"""Links from any count or chart point to the rows behind it (the `dashboards:rows` tables).

Dashboard pages carry the shared `Filters`; the feedback, NPS, support and experiment pages carry their own
filter dict (product slug, optional start/end). `drill_base` turns either into the query parameters that
reproduce the same scope on a rows page, and `rows_url` adds a table's own parameters (tag, segment, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from .filters import ALL_TIME as ALL_TIME
from .filters import Filters


def drill_base(filters: Filters | Mapping[str, Any] | None) -> dict[str, Any]:
    """The scope of a page as rows-page query parameters: product, team and a date range."""
    if filters is None:
        return {"range": ALL_TIME}
    if isinstance(filters, Filters):
        return filters.params()
    out: dict[str, Any] = {}
    if filters.get("product"):
        out["product"] = filters["product"]
    if filters.get("team"):
        out["team"] = filters["team"]
    if filters.get("source"):  # feedback in themes by source (tickets, nps, ...)
        out["source"] = filters["source"]
    start, end = filters.get("start"), filters.get("end")
    if start or end:
        out["start"] = (start or date(2000, 1, 1)).isoformat()
        if end:
            out["end"] = end.isoformat()
    else:
        out["range"] = ALL_TIME
    if filters.get("segment_key") and filters.get("segment_value"):
        out["segment"] = filters["segment"]
    return out


def period(base: Mapping[str, Any], start: date, end: date) -> dict[str, Any]:
    """`base` narrowed to the days start..end (inclusive), e.g. one week or month of a chart."""
    out = {k: v for k, v in base.items() if k not in {"range", "start", "end"}}
    out["start"], out["end"] = start.isoformat(), end.isoformat()
    return out


def week(base: Mapping[str, Any], monday: date) -> dict[str, Any]:
    return period(base, monday, monday + timedelta(days=6))


def month(base: Mapping[str, Any], first: date) -> dict[str, Any]:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return period(base, first.replace(day=1), following - timedelta(days=1))


def rows_url(table: str, base: Filters | Mapping[str, Any] | None, **params: Any) -> str:
    """The rows page of `table` in `base`'s scope (`Filters`, or parameters from `drill_base`), narrowed by
    `params` (None values are dropped; an empty string is kept, e.g. dimension_key="" for a total)."""
    query = base.params() if isinstance(base, Filters) else dict(base or {"range": ALL_TIME})
    query.update({k: v for k, v in params.items() if v is not None})
    return f"{reverse('dashboards:rows', args=[table])}?{urlencode(query, doseq=True)}"
