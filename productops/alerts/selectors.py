"""Reads for alerts: which insights a rule matches, the rules a user may see and edit, and what is due."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from insights import kinds
from insights.models import Insight, InsightStatus
from productops.accounts.roles import Role, role_of

from .models import AlertDelivery, AlertRule, DeliveryStatus, RuleScope


def lookback() -> dt.timedelta:
    return dt.timedelta(hours=int(getattr(settings, "ALERT_LOOKBACK_HOURS", 48)))


def claim_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "ALERT_CLAIM_TIMEOUT", 600)))


def rule_filter(rule: AlertRule) -> Q:
    """The rule's "what" as one filter on Insight (a threshold rule matches the insight it raises)."""
    if rule.is_threshold:
        return Q(kind="metric_threshold", key__startswith=f"threshold:{rule.pk}:")
    q = Q(severity__gte=rule.min_severity)
    if rule.kinds:
        q &= Q(kind__in=rule.kinds)
    if role_of(rule.owner) != Role.LEAD:
        q &= ~Q(kind__in=[k for k, spec in kinds.KINDS.items() if spec.lead_only])
    product_ids = [p.pk for p in rule.products.all()]
    team_ids = [t.pk for t in rule.teams.all()]
    metric_ids = [m.pk for m in rule.metrics.all()]
    if product_ids:
        q &= Q(products__in=product_ids)
    if team_ids:
        q &= Q(teams__in=team_ids)
    if metric_ids:
        q &= Q(payload__metric_id__in=metric_ids)
    return q


def matching_insights(rule: AlertRule) -> QuerySet[Insight]:
    """Open insights the rule would alert on (any age), without duplicates from the M2M joins."""
    ids = Insight.objects.filter(rule_filter(rule), status=InsightStatus.NEW).values("pk")
    return Insight.objects.filter(pk__in=ids).select_related("product")


def candidates(rule: AlertRule, now: dt.datetime) -> QuerySet[Insight]:
    """What an evaluation considers: open, matching, and new or changed since the rule was made (a new
    rule does not page about last month's insights) and within the look-back window."""
    since = max(rule.created_at, now - lookback())
    return matching_insights(rule).filter(updated_at__gte=since)


def visible_rules(user: Any) -> QuerySet[AlertRule]:
    """A user's own rules, and the team and channel rules (everyone sees those; only the lead edits)."""
    return (
        AlertRule.objects.filter(Q(owner=user) | ~Q(scope=RuleScope.PERSONAL))
        .select_related("owner", "team", "threshold_metric")
        .order_by("scope", "name", "pk")
    )


def can_edit(user: Any, rule: AlertRule) -> bool:
    if rule.scope == RuleScope.PERSONAL:
        return bool(rule.owner_id == user.pk)
    return role_of(user) == Role.LEAD


def due_rule_ids(now: dt.datetime | None = None) -> list[int]:
    """Rules with deliveries ready to go: pending or failed and due, or claimed by a worker that died."""
    now = now or timezone.now()
    ready = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], due_at__lte=now) | Q(
        status=DeliveryStatus.CLAIMED, claimed_at__lt=now - claim_timeout()
    )
    return sorted(
        set(AlertDelivery.objects.filter(ready, rule__enabled=True).values_list("rule_id", flat=True))
    )


def recent_deliveries(rule: AlertRule, limit: int = 50) -> list[AlertDelivery]:
    return list(rule.deliveries.select_related("insight").order_by("-created_at", "-pk")[:limit])
