"""Reads for digests: subscriptions, who is due now, and the lead's delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import Delivery, DeliveryStatus, Subscription
from .schedule import is_due


def claim_timeout() -> dt.timedelta:
    """How long a claim may stay unsent before it counts as a crashed worker's (well above EMAIL_TIMEOUT)."""
    return dt.timedelta(seconds=int(getattr(settings, "DIGEST_CLAIM_TIMEOUT", 900)))


def subscription_for(user: Any) -> Subscription | None:
    cached: Subscription | None = getattr(user, "_digest_subscription", None)
    if cached is not None:
        return cached
    sub = Subscription.objects.filter(user=user).first()
    if sub is not None:
        user._digest_subscription = sub
    return sub


def due_deliveries(now: dt.datetime | None = None) -> list[tuple[int, str]]:
    """(user id, ISO week) for every enabled subscriber whose weekday and hour have come this week and who
    has no finished delivery for it. Failed sends and claims stuck past the timeout count as not finished,
    so the next hourly run sends them; a claim still in progress does not.
    """
    now = now or timezone.now()
    subs = (
        Subscription.objects.filter(enabled=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user__profile")
    )
    candidates: list[tuple[int, str]] = []
    for sub in subs:
        profile = getattr(sub.user, "profile", None)
        week = is_due(now, sub.weekday, sub.hour, getattr(profile, "timezone", "UTC"))
        if week:
            candidates.append((sub.user_id, week))
    if not candidates:
        return []
    busy = Q(status__in=[DeliveryStatus.SENT, DeliveryStatus.SKIPPED]) | Q(
        status=DeliveryStatus.CLAIMED, claimed_at__gte=now - claim_timeout()
    )
    done = set(
        Delivery.objects.filter(
            busy, user_id__in=[u for u, _ in candidates], week__in={w for _, w in candidates}
        ).values_list("user_id", "week")
    )
    return [c for c in candidates if c not in done]


def delivery_log() -> QuerySet[Delivery]:
    return Delivery.objects.select_related("user").order_by("-created_at", "-pk")


def stuck_deliveries(now: dt.datetime | None = None) -> QuerySet[Delivery]:
    """Claimed but never marked sent within the timeout: the worker died between the claim and SMTP."""
    now = now or timezone.now()
    return Delivery.objects.filter(
        status=DeliveryStatus.CLAIMED, claimed_at__lt=now - claim_timeout()
    ).select_related("user")


def failed_deliveries() -> QuerySet[Delivery]:
    return Delivery.objects.filter(status=DeliveryStatus.FAILED).select_related("user")
