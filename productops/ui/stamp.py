"""What every page needs to know before it can serve a cached body, in one query per request.

A cached page body is keyed on the data version (bumped by every write and recompute) and on the state
of the connections (a sync, a failure or a pause changes the health shown on the page); the footer shows
when data last arrived and how many connections are failing. Those are five facts from two tables:
`page_stamp` reads them with one statement and keeps the answer on the request, so the view, the cache
key and the footer share it (before, four separate queries per page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from productops.core.versions import GLOBAL

_ATTR = "_productops_page_stamp"


@dataclass(frozen=True)
class PageStamp:
    version: str  # productops.core.versions.current(): changes on every bump
    connections: int
    connections_changed_at: datetime | None
    last_success_at: datetime | None  # when data last arrived through any connection
    failing: int  # connections whose last attempt failed

    @property
    def connections_key(self) -> tuple[Any, ...]:
        return (self.connections, self.connections_changed_at, self.last_success_at)


def _aware(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))  # SQLite returns text from an aggregate over a timestamp


def page_stamp(request: Any = None) -> PageStamp:
    if request is not None and hasattr(request, _ATTR):
        stamp: PageStamp = getattr(request, _ATTR)
        return stamp
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT version FROM core_dataversion WHERE name = %s),
                   (SELECT changed_at FROM core_dataversion WHERE name = %s),
                   COUNT(c.id), MAX(c.updated_at), MAX(c.last_success_at),
                   COALESCE(SUM(CASE WHEN c.error_streak > 0 THEN 1 ELSE 0 END), 0)
            FROM connectors_connection c
            """,
            [GLOBAL, GLOBAL],
        )
        version, changed_at, n, updated, success, failing = cursor.fetchone()
    changed = _aware(changed_at)
    stamp = PageStamp(
        version="0" if version is None or changed is None else f"{version}.{changed.timestamp():.6f}",
        connections=int(n),
        connections_changed_at=_aware(updated),
        last_success_at=_aware(success),
        failing=int(failing),
    )
    if request is not None:
        setattr(request, _ATTR, stamp)
    return stamp
