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
    # Cross-team overlaps in full, nightly (incremental runs follow each portfolio/experiments sync).
    "overlaps-nightly": {
        "task": "insights.overlaps.tasks.find_all_overlaps",
        "schedule": crontab(minute=40, hour=2),
    },
}

app.conf.beat_schedule = BEAT_SCHEDULE
