"""Writes for digests: subscriptions, team subscription, unsubscribe, and exactly-once delivery.

Exactly once, following the claim-then-send pattern: `claim_delivery` inserts or conditionally
updates the (user, week) row to `claimed` with a fresh token before any SMTP traffic; `mark_sent`
only succeeds for the token that holds the claim. A second worker, a Celery redelivery or a retry
after success finds the row sent (or claimed and fresh) and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Case, F, Q, TextField, Value, When
from django.utils import timezone

from productops.accounts.models import Profile

from . import novelty
from .models import Delivery, DeliveryStatus, DigestDefaults, Subscription, TeamMembership
from .selectors import claim_timeout

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """SMTP refused or dropped the message; the claim is released so a retry can send it."""


def ensure_subscription(user: Any) -> Subscription:
    """The user's subscription, created from the lead's defaults on first use."""
    defaults = DigestDefaults.load()
    sub, _ = Subscription.objects.get_or_create(
        user=user,
        defaults={
            "enabled": defaults.enabled,
            "weekday": defaults.weekday,
            "hour": defaults.hour,
            "only_notable": defaults.only_notable,
        },
    )
    Profile.objects.get_or_create(user=user)
    return sub


def set_timezone(user: Any, tz_name: str) -> None:
    """The digest's timezone is the profile's: one setting for dates and digests."""
    Profile.objects.update_or_create(user=user, defaults={"timezone": tz_name})


@transaction.atomic
def add_team_member(user: Any, team: Any) -> bool:
    _, created = TeamMembership.objects.get_or_create(user=user, team=team)
    return created


@transaction.atomic
def subscribe_team(team: Any) -> int:
    """Turn the digest on for every member of `team`, following the team. Returns how many users."""
    count = 0
    for membership in TeamMembership.objects.filter(team=team).select_related("user"):
        sub = ensure_subscription(membership.user)
        sub.enabled = True
        sub.unsubscribed_at = None
        sub.save(update_fields=["enabled", "unsubscribed_at", "updated_at"])
        sub.teams.add(team)
        count += 1
    return count


def unsubscribe(user_id: int) -> bool:
    """Turn the digest off. Returns False when the user no longer exists."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return False
    sub = ensure_subscription(user)
    if sub.enabled:
        sub.enabled = False
        sub.unsubscribed_at = timezone.now()
        sub.save(update_fields=["enabled", "unsubscribed_at", "updated_at"])
    return True


def claim_delivery(user_id: int, week: str, now: dt.datetime | None = None) -> Delivery | None:
    """Claim (user, week) for sending, or None when it is sent, skipped, or claimed by a live worker.

    A failed row, or a claim older than the timeout (its worker died before marking it sent), is taken
    over with a conditional UPDATE, so two workers can never both win.
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    try:
        with transaction.atomic():
            return Delivery.objects.create(
                user_id=user_id,
                week=week,
                status=DeliveryStatus.CLAIMED,
                claim_token=token,
                attempts=1,
                claimed_at=now,
            )
    except IntegrityError:
        pass
    crashed = Q(status=DeliveryStatus.CLAIMED, claimed_at__lt=now - claim_timeout())
    taken = (
        Delivery.objects.filter(user_id=user_id, week=week)
        .filter(Q(status=DeliveryStatus.FAILED) | crashed)
        .update(
            recovered=Case(
                When(crashed, then=Value(True)), default=F("recovered"), output_field=BooleanField()
            ),
            error=Case(
                When(
                    crashed,
                    then=Value(
                        f"An attempt claimed before {now:%Y-%m-%d %H:%M} UTC never finished "
                        "(worker crash?); resent."
                    ),
                ),
                default=F("error"),
                output_field=TextField(),
            ),
            status=DeliveryStatus.CLAIMED,
            claim_token=token,
            claimed_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if taken != 1:
        return None
    return Delivery.objects.get(user_id=user_id, week=week)


def _finish(delivery: Delivery, **fields: Any) -> bool:
    done = Delivery.objects.filter(
        pk=delivery.pk, claim_token=delivery.claim_token, status=DeliveryStatus.CLAIMED
    ).update(**fields)
    if not done:
        log.warning(
            "digest delivery %s (user %s, %s) lost its claim before finishing",
            delivery.pk,
            delivery.user_id,
            delivery.week,
        )
    return bool(done)


def mark_sent(delivery: Delivery, subject: str, items: int) -> bool:
    return _finish(
        delivery, status=DeliveryStatus.SENT, sent_at=timezone.now(), subject=subject[:300], items=items
    )


def mark_skipped(delivery: Delivery) -> bool:
    return _finish(
        delivery,
        status=DeliveryStatus.SKIPPED,
        sent_at=timezone.now(),
        items=0,
        subject="(quiet week, not sent: only when notable)",
    )


def mark_failed(delivery: Delivery, error: str) -> bool:
    return _finish(delivery, status=DeliveryStatus.FAILED, error=error[:2000])


def deliver_digest(user_id: int, week: str) -> str:
    """Build and send one user's digest for `week`, at most once. Returns what happened:
    "sent", "skipped" (quiet week, only-when-notable), "done" (already sent or claimed), "off".
    Raises DeliveryFailed when SMTP fails; the row is then `failed` and a retry may claim it again.
    """
    from .build import build_digest
    from .emails import digest_message

    user = get_user_model().objects.select_related("profile").filter(pk=user_id).first()
    if user is None:
        return "off"
    sub = ensure_subscription(user)
    if not sub.enabled or not user.email:
        return "off"
    if Delivery.objects.filter(
        user_id=user_id, week=week, status__in=[DeliveryStatus.SENT, DeliveryStatus.SKIPPED]
    ).exists():
        return "done"
    # Build before claiming: a slow build never holds a claim, and a build error leaves nothing stuck.
    digest = build_digest(user, week)
    message = None if (digest.is_quiet and sub.only_notable) else digest_message(digest, user)

    delivery = claim_delivery(user_id, week)
    if delivery is None:
        return "done"
    if message is None:
        mark_skipped(delivery)
        return "skipped"
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        mark_failed(delivery, f"The mail server refused or dropped the message: {exc}. It will be retried.")
        raise DeliveryFailed(f"digest for user {user_id}, {week}: {exc}") from exc
    if mark_sent(delivery, str(message.subject), digest.item_count):
        novelty.remember(user, week, digest, timezone.now())
    return "sent"


def send_test_digest(user_id: int) -> bool:
    """Send this week's digest now, outside the delivery log (it does not count as the week's digest)."""
    from .build import build_digest
    from .emails import digest_message

    user = get_user_model().objects.select_related("profile").filter(pk=user_id).first()
    if user is None or not user.email:
        return False
    digest = build_digest(user)
    message = digest_message(digest, user, test=True)
    message.send()
    return True


def ensure_all_subscriptions() -> int:
    """Give every user with a role a subscription from the lead's defaults (so new users get digests)."""
    from productops.accounts.roles import Role
    from productops.accounts.services import users_with_role

    missing = users_with_role(Role.LEAD, Role.PM).filter(digest__isnull=True).exclude(email="")
    created = 0
    for user in missing:
        ensure_subscription(user)
        created += 1
    return created
