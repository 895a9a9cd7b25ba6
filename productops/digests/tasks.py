"""Digest tasks: an hourly fan-out, and one send per user on the email queue (routed by name)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from . import selectors, services

log = logging.getLogger(__name__)


@shared_task(name="productops.digests.tasks.send_due_digests")
def send_due_digests() -> int:
    """Run hourly by beat: enqueue one send for each user whose weekday and hour have come."""
    services.ensure_all_subscriptions()
    due = selectors.due_deliveries()
    for user_id, week in due:
        send_digest.delay(user_id, week)
    if due:
        log.info("enqueued %d digest(s)", len(due))
    return len(due)


@shared_task(bind=True, name="productops.digests.tasks.send_digest", max_retries=5, acks_late=True)
def send_digest(self: Any, user_id: int, week: str) -> str:
    """Send one user's digest for one week; safe to run twice (the delivery row decides)."""
    try:
        return services.deliver_digest(user_id, week)
    except services.DeliveryFailed as exc:
        log.warning(
            "digest for user %s, %s failed (attempt %d): %s", user_id, week, self.request.retries + 1, exc
        )
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc


@shared_task(name="productops.digests.tasks.send_test_digest")
def send_test_digest(user_id: int) -> bool:
    return services.send_test_digest(user_id)
