"""Celery tasks of the signals app: thin wrappers that take ids."""

from __future__ import annotations

from celery import shared_task

from . import imports


@shared_task(name="productops.signals.tasks.run_import", acks_late=True)
def run_import(job_id: int) -> str:
    """Run or resume one CSV import from the Import page (productops.signals.imports)."""
    return str(imports.run_job(job_id).status)
