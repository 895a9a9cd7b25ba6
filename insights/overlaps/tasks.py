from __future__ import annotations

from celery import shared_task


@shared_task(name="insights.overlaps.tasks.find_all_overlaps")
def find_all_overlaps() -> int:
    """Nightly full recompute of cross-team overlaps; returns the number of pairs found."""
    from .services import compute_overlaps

    return compute_overlaps().pairs
