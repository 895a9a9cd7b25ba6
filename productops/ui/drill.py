"""Links from any count or chart point to the rows behind it (the `dashboards:rows` tables).

Every page carries the shared `Filters`. `drill_base` turns them into the query parameters that reproduce
the same scope on a rows page, `week`/`month`/`period` narrow it to one chart bucket, and `rows_url` adds a
table's own parameters (tag, segment, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from .filters import ALL_TIME as ALL_TIME
from .filters import Filters

# What carries over from a page to the rows behind its numbers (not, e.g., a page number or a sort).
SCOPE_PARAMS = {"product", "team", "range", "from", "to", "source", "segment"}


def drill_base(filters: Filters | None) -> dict[str, Any]:
    """The scope of a page as rows-page query parameters: product, team, a date range and the page's
    own validated parameters (source, segment...)."""
    if filters is None:
        return {"range": ALL_TIME}
    return {k: v for k, v in filters.params().items() if k in SCOPE_PARAMS}


def period(base: Mapping[str, Any], start: date, end: date) -> dict[str, Any]:
    """`base` narrowed to the days start..end (inclusive), e.g. one week or month of a chart."""
    out = {k: v for k, v in base.items() if k not in {"range", "from", "to", "start", "end"}}
    out["from"], out["to"] = start.isoformat(), end.isoformat()
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
