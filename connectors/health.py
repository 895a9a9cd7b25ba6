"""The stale-connector insight, produced from `Connection.health`.

A beat task (`connectors.tasks.check_connector_health`) and every write (`record_write` touches the
connection) call `refresh_stale_insight`: a stale connection gets (or refreshes) one `stale_connector`
insight keyed by the connection; one that is no longer stale has its open insight resolved.

The payload is `insights.kinds.StaleConnectorPayload`, stored as a plain dict with these keys:
- ``connection_id``: int;
- ``connection_name``: str;
- ``last_success_at``: ISO 8601 string, or None when the connection never synced;
- ``expected_every_s``: int seconds between scheduled syncs.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from .models import Connection, Health

log = logging.getLogger(__name__)
KIND = "stale_connector"


def insight_key(connection: Connection) -> str:
    return f"connection:{connection.pk}"


def refresh_stale_insight(connection: Connection, now: datetime | None = None) -> bool:
    """Write or resolve the connection's stale insight; True when it is stale now."""
    from insights.kinds import StaleConnectorPayload
    from insights.models import Insight, InsightStatus, Severity
    from insights.services import upsert_insight

    now = now or timezone.now()
    period = connection.expected_every()
    if connection.health(now) == Health.STALE and period is not None:
        last = connection.last_success_at
        since = f"since {last:%Y-%m-%d %H:%M} UTC" if last else "ever"
        hours = period.total_seconds() / 3600
        every = f"{hours:g} hours" if hours >= 1 else f"{period.total_seconds() / 60:g} minutes"
        upsert_insight(
            KIND,
            insight_key(connection),
            title=f"Connector “{connection.name}” is stale",
            summary=(
                f"No successful sync {since}; it is scheduled every {every}. Pages show its data as of "
                "the last sync. Open the connection to see its runs, or press Sync now."
            ),
            severity=Severity.MEDIUM,
            product_id=connection.product_id,
            team_id=connection.team_id,
            starts_at=last,
            payload=StaleConnectorPayload(
                connection_id=connection.pk,
                connection_name=connection.name,
                last_success_at=last.isoformat() if last else None,
                expected_every_s=int(period.total_seconds()),
            ),
        )
        return True
    Insight.objects.filter(
        kind=KIND, key=insight_key(connection), status__in=[InsightStatus.NEW, InsightStatus.ACKNOWLEDGED]
    ).update(status=InsightStatus.RESOLVED, updated_at=now)
    return False


def check_connector_health(now: datetime | None = None) -> list[int]:
    """Every connection's stale insight brought up to date; returns the ids of the stale ones."""
    now = now or timezone.now()
    stale = [c.pk for c in Connection.objects.all() if refresh_stale_insight(c, now)]
    if stale:
        log.info("stale connections: %s", stale)
    return stale
