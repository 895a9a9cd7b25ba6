"""Celery tasks of the signals app: thin wrappers that take ids."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import imports


@shared_task(
    name="productops.signals.tasks.run_import",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.IMPORT_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.IMPORT_TASK_TIME_LIMIT,
)
def run_import(job_id: int) -> str:
    """Run or resume one CSV import (the Import page's, or a connection's upload): signals.imports."""
    job = imports.run_job(job_id)
    return str(job.status) if job is not None else "missing"
