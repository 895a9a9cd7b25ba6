from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from .base import REGISTRY
from .models import Connection, RunStatus, SyncRun
from .schedule import next_run

HEALTH_LABELS = {
    "ok": ("OK", "good"),
    "failing": ("Failing", "bad"),
    "stale": ("Stale", "warn"),
    "paused": ("Paused", "muted"),
    "pending": ("Waiting for first sync", "muted"),
}


def health(connection: Connection, now: datetime | None = None) -> str:
    """The connection's state: `Connection.health` (one rule for every page)."""
    return connection.health(now).value


def connection_cards() -> list[dict[str, Any]]:
    """One dict per connection for the connections page; a fixed number of queries."""
    connections = list(Connection.objects.select_related("periodic_task", "product", "team").order_by("name"))
    active = {
        r.connection_id: r
        for r in SyncRun.objects.filter(
            connection__in=connections, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
        )
    }
    now = timezone.now()
    cards = []
    for c in connections:
        state = health(c, now)
        label, tone = HEALTH_LABELS[state]
        cls = REGISTRY.get(c.kind)
        cards.append(
            {
                "connection": c,
                "connector": cls,
                "installed": cls is not None,
                "health": state,
                "health_label": label,
                "health_tone": tone,
                "next_run": next_run(c),
                "active_run": active.get(c.pk),
            }
        )
    return cards


def runs_for(connection: Connection) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(connection=connection).order_by("-queued_at")
