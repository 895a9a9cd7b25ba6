"""Cursor pagination: `?limit=N&cursor=…`, answered with `{"items": [...], "next_cursor": "…" | null}`.

The cursor is opaque to clients (base64 of the last row's id); lists run newest first by id, so a row
written while a client pages never shifts the pages it has not read yet, unlike an offset.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from .problems import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

M = TypeVar("M", bound=Model)
_CURSOR = re.compile(r"id:([0-9]{1,18})", re.ASCII)


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"id:{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    m = _CURSOR.fullmatch(raw)
    if not m:
        raise ApiProblem(
            422,
            "The cursor is not one this API gave; start again without it.",
            errors=[{"loc": ["query", "cursor"], "msg": "not a cursor from next_cursor"}],
        )
    return int(m[1])


def paginate(qs: QuerySet[M], cursor: str | None, limit: int) -> tuple[list[M], str | None]:
    """One page of `qs`, newest first by id, and the cursor of the next page (None on the last)."""
    qs = qs.order_by("-pk")
    if cursor:
        qs = qs.filter(pk__lt=decode_cursor(cursor))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].pk) if more and rows else None)


def page(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
