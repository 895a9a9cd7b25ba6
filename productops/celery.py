"""The Celery app, and every beat schedule in one place.

Schedules are crontabs only: an interval schedule restarts its clock whenever beat restarts, so a
daily job could drift or run twice. django-celery-beat's DatabaseScheduler loads these entries into
the database, beside the per-connection schedules that the connectors UI edits.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

app = Celery("productops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# name -> (task, crontab). Apps add their entries here, never in their own modules.
BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Every insight family and the dashboards' rollups, over everything, once a night.
    "recompute-all-nightly": {"task": "insights.tasks.recompute_all", "schedule": crontab(minute=15, hour=2)},
    # Hourly: each user's digest goes out in the first run after their local weekday and hour.
    "digests-send-due": {"task": "productops.digests.tasks.send_due_digests", "schedule": crontab(minute=1)},
    # Runs of a dead worker are taken over (a new run resumes from the cursor); runs stuck without a
    # lock holder, or queued with no worker, become "abandoned". Each worker's watchdog does the first
    # part every few seconds too; this covers the case where no worker survived.
    "connectors-reap-stuck-runs": {
        "task": "connectors.tasks.reap_stuck_runs",
        "schedule": crontab(minute="*"),
    },
    # Stale connections get a stale_connector insight (Connection.health), and lose it once they sync.
    "connectors-check-health": {
        "task": "connectors.tasks.check_connector_health",
        "schedule": crontab(minute="*/15"),
    },
    # Alerts: the rules are evaluated after every detection cycle (a recompute hook) and every five
    # minutes for insights written elsewhere (connector health, goals); due alerts (hourly batches, the
    # end of quiet hours, retries after their backoff) go out every minute.
    "alerts-evaluate": {"task": "productops.alerts.tasks.evaluate_alerts", "schedule": crontab(minute="*/5")},
    "alerts-send-due": {"task": "productops.alerts.tasks.send_due_alerts", "schedule": crontab(minute="*")},
}

app.conf.beat_schedule = BEAT_SCHEDULE
