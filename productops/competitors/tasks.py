"""Celery tasks for competitors: a full rescan after a lead edits a competitor's names or domains."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="competitors.rescan_mentions", queue="insights", ignore_result=True)
def rescan_mentions() -> dict[str, int]:
    """Idempotent: the scan replaces the stored mentions, so running it twice changes nothing more."""
    from .services import recompute_competitors

    return recompute_competitors()
