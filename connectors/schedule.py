"""Each Connection owns one django-celery-beat PeriodicTask, kept in step with the row.

The PeriodicTask enqueues `connectors.tasks.sync_connection(connection_id)` on the connectors queue:
the task takes the id only, so no secret ever reaches the broker. A paused or manual connection keeps
its PeriodicTask, disabled, so resuming it restores the same schedule.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery.schedules import crontab as celery_crontab
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

if TYPE_CHECKING:
    from .models import Connection

TASK_NAME = "connectors.tasks.sync_connection"
QUEUE = "connectors"


def parse_crontab(expr: str) -> tuple[str, str, str, str, str]:
    """Split and validate "m h dom mon dow"; raise ValueError with a message a user can act on."""
    parts = (expr or "").split()
    if len(parts) != 5:
        raise ValueError("Enter five fields: minute hour day-of-month month day-of-week, e.g. '0 */6 * * *'.")
    minute, hour, dom, month, dow = parts
    try:
        celery_crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)
    except Exception as exc:  # celery raises ValueError or its own ParseException
        raise ValueError(
            f"That crontab doesn't parse ({exc}); e.g. '0 */6 * * *' is every six hours."
        ) from None
    return minute, hour, dom, month, dow


def periodic_task_name(connection: Connection) -> str:
    return f"connector {connection.pk}: {connection.name}"[:200]


def sync_periodic_task(connection: Connection) -> PeriodicTask:
    """Create or update the connection's PeriodicTask to match its schedule and enabled flag."""
    from .models import Connection, ScheduleKind

    defaults: dict[str, Any] = {
        "name": periodic_task_name(connection),
        "task": TASK_NAME,
        "args": json.dumps([connection.pk]),
        "kwargs": "{}",
        "queue": QUEUE,
        "enabled": connection.enabled and connection.schedule_kind != ScheduleKind.MANUAL,
        "interval": None,
        "crontab": None,
    }
    if connection.schedule_kind == ScheduleKind.CRONTAB:
        minute, hour, dom, month, dow = parse_crontab(connection.crontab)
        defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow, timezone="UTC"
        )
    else:
        every = max(1, connection.interval_minutes or 60)
        defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
            every=every, period=IntervalSchedule.MINUTES
        )
    task = connection.periodic_task
    if task is None:
        task = PeriodicTask.objects.create(**defaults)
        Connection.objects.filter(pk=connection.pk).update(periodic_task=task)
        connection.periodic_task = task
    else:
        for name, value in defaults.items():
            setattr(task, name, value)
        task.save()
    return task


def expected_period(connection: Connection) -> timedelta | None:
    """How long between two scheduled syncs; None for a manual connection."""
    from .models import ScheduleKind

    if connection.schedule_kind == ScheduleKind.MANUAL:
        return None
    if connection.schedule_kind == ScheduleKind.INTERVAL:
        return timedelta(minutes=max(1, connection.interval_minutes))
    try:
        first = next_fire(connection.crontab, timezone.now())
        second = next_fire(connection.crontab, first + timedelta(seconds=1))
    except ValueError:
        return None
    return second - first


def next_fire(expr: str, after: datetime) -> datetime:
    minute, hour, dom, month, dow = parse_crontab(expr)
    sched = celery_crontab(
        minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow, nowfun=lambda: after
    )
    # remaining_estimate(last_run) is the delay from "now" (our `after`) to the first fire after last_run.
    return after + sched.remaining_estimate(after)


def next_run(connection: Connection) -> datetime | None:
    """When beat will really enqueue this connection next; None if paused or manual.

    django-celery-beat counts an interval from the PeriodicTask's last_run_at, or, before its first run,
    from the task's date_changed (when the schedule was saved): a new 60-minute connection first runs
    60 minutes after it is saved, not "now" (which is why saving a connection also queues its first sync
    at once: connectors.services.start_first_sync). An overdue entry runs at beat's next tick.
    """
    from .models import ScheduleKind

    if not connection.enabled or connection.schedule_kind == ScheduleKind.MANUAL:
        return None
    now = timezone.now()
    if connection.schedule_kind == ScheduleKind.CRONTAB:
        try:
            return next_fire(connection.crontab, now)
        except ValueError:
            return None
    task = connection.periodic_task
    if task is None:
        return None
    base = task.last_run_at or task.date_changed or now
    return max(now, base + timedelta(minutes=max(1, connection.interval_minutes)))
