"""Writes for alerts: evaluating rules into deliveries, and sending them exactly once.

Evaluation (`evaluate_rules`, after every detection cycle and every few minutes) matches each enabled
rule against open insights and inserts one `AlertDelivery` per (rule, insight, severity) it has not seen,
with `ignore_conflicts` on the unique row, so evaluating twice, or in two workers, inserts nothing more.
An insight already alerted at a lower severity gets a new row at its new severity: the escalation.

Sending (`deliver_rule`) follows the digest's claim-then-send pattern: one conditional UPDATE moves a
rule's due rows to `claimed` under a fresh token before any network traffic; only that token may mark
them sent or failed. A second worker, a redelivered task or a retry after success finds nothing to claim.
A failure marks the rows `failed` with a due time after a backoff, and records the error on the rule;
each rule is its own task, so one failing destination never holds up another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from connectors import secrets as secret_store
from insights.models import Insight

from . import timing
from .destinations import DeliveryError, destination_for
from .message import build_message, sample_insight
from .models import AlertDelivery, AlertRule, Cadence, DeliveryStatus
from .selectors import candidates, claim_timeout

log = logging.getLogger(__name__)


def max_attempts() -> int:
    return int(getattr(settings, "ALERT_MAX_ATTEMPTS", 6))


def retry_base() -> float:
    return float(getattr(settings, "ALERT_RETRY_BASE", 60.0))


def retry_cap() -> float:
    return float(getattr(settings, "ALERT_RETRY_CAP", 3600.0))


def owner_timezone(rule: AlertRule) -> str:
    profile = getattr(rule.owner, "profile", None)
    return getattr(profile, "timezone", "UTC") or "UTC"


def rule_due_at(rule: AlertRule, now: dt.datetime) -> dt.datetime:
    return timing.due_at(
        now,
        hourly=rule.cadence == Cadence.HOURLY,
        quiet_start=rule.quiet_start,
        quiet_end=rule.quiet_end,
        tz=owner_timezone(rule),
    )


# --- Secrets -------------------------------------------------------------------------------------


def rule_secrets(rule: AlertRule) -> dict[str, str]:
    return secret_store.decrypt(rule.secrets_encrypted)


def set_secrets(rule: AlertRule, values: dict[str, str]) -> None:
    rule.secrets_encrypted = secret_store.encrypt(values)


# --- Evaluation ----------------------------------------------------------------------------------


def evaluate_rules(now: dt.datetime | None = None, rule_ids: list[int] | None = None) -> list[int]:
    """Insert the deliveries every enabled rule owes; return the ids of rules with something due now."""
    now = now or timezone.now()
    rules = AlertRule.objects.filter(enabled=True).select_related("owner__profile", "threshold_metric")
    if rule_ids is not None:
        rules = rules.filter(pk__in=rule_ids)
    rules = rules.prefetch_related("products", "teams", "metrics")
    due_now: set[int] = set()
    for rule in rules:
        if rule.is_threshold:
            from .thresholds import check_threshold

            check_threshold(rule, now)
        if _evaluate_rule(rule, now):
            due_now.add(rule.pk)
    return sorted(due_now)


def _evaluate_rule(rule: AlertRule, now: dt.datetime) -> bool:
    found = list(candidates(rule, now).values_list("pk", "severity"))
    if not found:
        return False
    ids = [pk for pk, _ in found]
    seen = dict(
        AlertDelivery.objects.filter(rule=rule, insight_id__in=ids)
        .values("insight_id")
        .annotate(top=Max("severity"))
        .values_list("insight_id", "top")
    )
    when = rule_due_at(rule, now)
    new = [
        AlertDelivery(
            rule=rule,
            insight_id=pk,
            severity=severity,
            escalation=pk in seen,
            due_at=when,
            created_at=now,
        )
        for pk, severity in found
        if pk not in seen or severity > seen[pk]
    ]
    if not new:
        return False
    AlertDelivery.objects.bulk_create(new, ignore_conflicts=True)
    # An escalation supersedes a lower-severity alert still waiting for its batch or quiet hours to end.
    escalated = [d.insight_id for d in new if d.escalation]
    if escalated:
        for delivery in new:
            if delivery.escalation:
                AlertDelivery.objects.filter(
                    rule=rule,
                    insight_id=delivery.insight_id,
                    severity__lt=delivery.severity,
                    status=DeliveryStatus.PENDING,
                ).delete()
    return when <= now


# --- Sending -------------------------------------------------------------------------------------


def claim(rule_id: int, now: dt.datetime | None = None) -> str | None:
    """Claim every due delivery of a rule under a fresh token (one conditional UPDATE); None if none."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    ready = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], due_at__lte=now) | Q(
        status=DeliveryStatus.CLAIMED, claimed_at__lt=now - claim_timeout()
    )
    with transaction.atomic():
        ids = list(
            AlertDelivery.objects.select_for_update(skip_locked=True)
            .filter(ready, rule_id=rule_id)
            .values_list("pk", flat=True)
        )
        if not ids:
            return None
        AlertDelivery.objects.filter(ready, pk__in=ids).update(
            status=DeliveryStatus.CLAIMED, claim_token=token, claimed_at=now
        )
    return token


def deliver_rule(rule_id: int, now: dt.datetime | None = None) -> str:
    """Send a rule's due deliveries as one message, at most once. Returns "sent", "nothing", "off",
    "failed" (retried later) or "gave_up"."""
    now = now or timezone.now()
    rule = AlertRule.objects.select_related("owner__profile").filter(pk=rule_id).first()
    if rule is None or not rule.enabled:
        return "off"
    token = claim(rule_id, now)
    if token is None:
        return "nothing"
    claimed = list(
        AlertDelivery.objects.filter(rule_id=rule_id, claim_token=token, status=DeliveryStatus.CLAIMED)
        .select_related("insight__product")
        .order_by("-severity", "pk")
    )
    if not claimed:  # another worker's UPDATE won between our read and ours
        return "nothing"
    # Only the latest severity of each insight goes out (an escalation and its superseded row).
    latest: dict[int, AlertDelivery] = {}
    for d in claimed:
        if d.insight_id not in latest or d.severity > latest[d.insight_id].severity:
            latest[d.insight_id] = d
    try:
        message = build_message(rule, [(d.insight, d.severity, d.escalation) for d in latest.values()])
        message.message_id = (
            "msg_" + hashlib.sha256(f"{rule.pk}:{sorted(d.pk for d in claimed)}".encode()).hexdigest()[:32]
        )
        note = destination_for(rule).send(rule, message, rule_secrets(rule))
    except DeliveryError as exc:
        return _failed(rule, claimed, token, exc, now)
    except Exception as exc:  # a bug or a broken secret must not leave the rows claimed until the timeout
        log.exception("alert rule %s: sending failed unexpectedly", rule.pk)
        return _failed(rule, claimed, token, DeliveryError(f"Unexpected error: {type(exc).__name__}"), now)
    sent_at = timezone.now()
    AlertDelivery.objects.filter(pk__in=[d.pk for d in claimed], claim_token=token).update(
        status=DeliveryStatus.SENT, sent_at=sent_at, error="", attempts=F("attempts") + 1
    )
    AlertRule.objects.filter(pk=rule.pk).update(last_sent_at=sent_at, last_error="", last_error_at=None)
    log.info("alert rule %s: sent %d insight(s) %s", rule.pk, len(latest), note)
    return "sent"


def _failed(
    rule: AlertRule, claimed: list[AlertDelivery], token: str, exc: DeliveryError, now: dt.datetime
) -> str:
    attempts = max((d.attempts for d in claimed), default=0) + 1
    give_up = exc.permanent or attempts >= max_attempts()
    wait = timing.backoff(attempts, retry_base(), retry_cap())
    if exc.retry_after is not None:
        wait = max(wait, dt.timedelta(seconds=min(exc.retry_after, retry_cap())))
    status = DeliveryStatus.GAVE_UP if give_up else DeliveryStatus.FAILED
    error = (
        exc.message if not give_up or exc.permanent else f"{exc.message} Gave up after {attempts} attempts."
    )
    AlertDelivery.objects.filter(pk__in=[d.pk for d in claimed], claim_token=token).update(
        status=status, error=error[:2000], attempts=attempts, due_at=now + wait
    )
    AlertRule.objects.filter(pk=rule.pk).update(last_error=error[:2000], last_error_at=timezone.now())
    log.warning("alert rule %s: attempt %d failed (%s): %s", rule.pk, attempts, status, error)
    return "gave_up" if give_up else "failed"


def send_test(rule: AlertRule) -> str:
    """Send a test alert now (outside the delivery log); return what happened, for the page's message.
    Raises DeliveryError with the destination's error."""
    insight: Insight = sample_insight(rule)
    message = build_message(rule, [(insight, insight.severity, False)], test=True)
    note = destination_for(rule).send(rule, message, rule_secrets(rule))
    AlertRule.objects.filter(pk=rule.pk).update(last_error="", last_error_at=None)
    return note
