"""Alert tasks, all on the email queue (routed by name): evaluate, fan out, and one send per rule."""

from __future__ import annotations

import logging

from celery import shared_task

from . import selectors, services

log = logging.getLogger(__name__)


@shared_task(name="productops.alerts.tasks.evaluate_alerts")
def evaluate_alerts() -> list[int]:
    """After every detection cycle (a recompute hook) and every five minutes (beat): insert what the
    rules owe, then send what is due now."""
    due = services.evaluate_rules()
    for rule_id in due:
        deliver_alerts.delay(rule_id)
    return due


@shared_task(name="productops.alerts.tasks.send_due_alerts")
def send_due_alerts() -> int:
    """Every minute (beat): send hourly batches, alerts held by quiet hours, and retries whose backoff
    has passed."""
    due = selectors.due_rule_ids()
    for rule_id in due:
        deliver_alerts.delay(rule_id)
    return len(due)


@shared_task(name="productops.alerts.tasks.deliver_alerts", acks_late=True)
def deliver_alerts(rule_id: int) -> str:
    """Send one rule's due alerts; safe to run twice (the claim decides). A failure is recorded on the
    rows with their next due time, which `send_due_alerts` picks up: no retry sleeps in a worker."""
    return services.deliver_rule(rule_id)
