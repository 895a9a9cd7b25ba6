"""Time arithmetic for digests: ISO week labels and each user's scheduled moment, in their timezone."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def tz_of(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def week_label(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(label: str) -> tuple[int, int]:
    """'2026-W48' -> (2026, 48); raises ValueError with the expected format."""
    m = WEEK_RE.match(label.strip())
    if not m:
        raise ValueError(f"'{label}' is not an ISO week; write it as YYYY-Www, e.g. 2026-W48")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        dt.date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"'{label}' is not a week that exists: {exc}") from exc
    return year, week


def scheduled_moment(week: str, weekday: int, hour: int, tz_name: str) -> dt.datetime:
    """The aware datetime at which a user's digest for `week` is due (their weekday and hour, local)."""
    year, num = parse_week(week)
    day = dt.date.fromisocalendar(year, num, weekday + 1)
    # A local hour skipped by a DST jump normalises forward through UTC, which is what a person expects.
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=tz_of(tz_name))
    return local.astimezone(dt.UTC)


def local_week(now: dt.datetime, tz_name: str) -> str:
    return week_label(now.astimezone(tz_of(tz_name)).date())


def is_due(now: dt.datetime, weekday: int, hour: int, tz_name: str) -> str | None:
    """The week whose digest is due at `now`, or None while the user's weekday and hour are still ahead.

    "Has come" rather than "is exactly now", so a digest missed while beat was down still goes out later
    in the same week instead of being lost.
    """
    week = local_week(now, tz_name)
    return week if now >= scheduled_moment(week, weekday, hour, tz_name) else None
