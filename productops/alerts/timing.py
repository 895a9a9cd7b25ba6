"""When a pending alert may go out: batching to the top of the hour, and quiet hours in a timezone."""

from __future__ import annotations

import datetime as dt
import zoneinfo


def _zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def in_quiet_hours(moment: dt.datetime, start: int | None, end: int | None, tz: str) -> bool:
    """Whether `moment` falls in [start:00, end:00) local time; the window may wrap midnight (22 to 7)."""
    if start is None or end is None or start == end:
        return False
    hour = moment.astimezone(_zone(tz)).hour
    return start <= hour < end if start < end else (hour >= start or hour < end)


def after_quiet_hours(moment: dt.datetime, start: int | None, end: int | None, tz: str) -> dt.datetime:
    """`moment` itself when it is outside quiet hours, else the first instant they end (end:00 local).

    Local wall-clock hours are stepped through in UTC, so a DST change inside the window neither skips
    nor repeats the end.
    """
    if not in_quiet_hours(moment, start, end, tz):
        return moment
    zone = _zone(tz)
    probe = moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(26):
        probe += dt.timedelta(hours=1)
        if not in_quiet_hours(probe, start, end, tz):
            local = probe.astimezone(zone)
            return local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    return moment  # unreachable for a valid window; never hold an alert for ever


def next_hour(moment: dt.datetime) -> dt.datetime:
    """The next top of the hour (UTC), where hourly batches go out."""
    top = moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return top + dt.timedelta(hours=1)


def due_at(
    now: dt.datetime, *, hourly: bool, quiet_start: int | None, quiet_end: int | None, tz: str
) -> dt.datetime:
    """When an alert found at `now` goes out."""
    when = next_hour(now) if hourly else now
    return after_quiet_hours(when, quiet_start, quiet_end, tz)


def backoff(attempts: int, base: float, cap: float) -> dt.timedelta:
    """Wait before retry number `attempts` (1-based): base, 2x, 4x... up to `cap` seconds."""
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))
