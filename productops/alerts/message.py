"""What an alert says, built once and rendered by every destination (e-mail, Slack, Teams, webhook).

Links are absolute: the insight's target page (the insight-kind registry decides), signed acknowledge
and mute links, the rule's page, and a signed chart image URL that chat apps fetch (they cannot take an
attachment from an incoming webhook). E-mail carries the same chart inline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils import timezone

from insights import kinds
from insights.models import Insight, InsightBand, InsightKind, Severity
from productops.digests import charts
from productops.digests.links import absolute

from .models import AlertRule
from .tokens import make_action_token, make_chart_token

# One message lists at most this many insights (highest severity first; the rest are counted and
# linked), and draws at most MAX_CHARTS charts: a chat message stays readable and within Slack's
# 50-block limit, and an hourly batch of hundreds costs a few renders, not hundreds.
MAX_ITEMS = 10
MAX_CHARTS = 3


@dataclass
class AlertItem:
    insight: Insight
    severity: int
    escalation: bool
    url: str
    ack_url: str
    mute_url: str
    chart_url: str | None
    why: str = ""
    chart: charts.Chart | None = None

    @property
    def severity_label(self) -> str:
        return Severity(self.severity).label if self.severity in Severity.values else str(self.severity)

    @property
    def kind_label(self) -> str:
        try:
            return kinds.spec_of(self.insight.kind).label
        except kinds.UnknownKind:
            return self.insight.kind


@dataclass
class AlertMessage:
    rule: AlertRule
    items: list[AlertItem]
    test: bool = False
    rule_url: str = ""
    more: int = 0  # insights in this alert beyond the listed ones
    more_url: str = ""
    # Stable across retries of the same deliveries, so a webhook receiver can drop a duplicate.
    message_id: str = ""
    charts: dict[int, charts.Chart] = field(default_factory=dict)

    @property
    def title(self) -> str:
        prefix = "[Test] " if self.test else ""
        if len(self.items) == 1:
            item = self.items[0]
            verb = "Escalated to " if item.escalation else ""
            return f"{prefix}{verb}{item.severity_label}: {item.insight.title}"[:250]
        return f"{prefix}{len(self.items) + self.more} new insights for “{self.rule.name}”"


def chart_for(insight: Insight, bands: dict[int, InsightBand] | None = None) -> charts.Chart | None:
    """The anomaly's stored band (actual values, the window shaded), or None for kinds without a series.
    `bands` (insight id -> band) saves the query when the caller loaded them together."""
    band_insight = insight
    if insight.kind == InsightKind.INCIDENT:
        payload = kinds.payload_of(insight)
        keys = [e.get("key") for e in getattr(payload, "evidence", []) if e.get("type") == "anomaly"]
        band_insight = (
            Insight.objects.filter(
                kind=InsightKind.ANOMALY, key__in=[k for k in keys if k], band__isnull=False
            )
            .order_by("-severity", "pk")
            .first()
            or insight
        )
    if bands is not None and band_insight is insight:
        band = bands.get(insight.pk)
    else:
        band = InsightBand.objects.filter(insight=band_insight).first()
    points: list[Any] = band.points if band else []
    if not points and insight.kind == "metric_threshold":
        points = [[p[0], p[1], None, None, None, False] for p in insight.payload.get("recent", [])]
    days: list[dt.date] = []
    values: list[float] = []
    flagged: list[dt.date] = []
    for row in points:
        try:
            day = dt.datetime.fromisoformat(str(row[0])).date()
            value = float(row[1])
        except (TypeError, ValueError, IndexError):
            continue
        days.append(day)
        values.append(value)
        if len(row) > 5 and row[5]:
            flagged.append(day)
    if len(days) < 2:
        return None
    window = (min(flagged), max(flagged)) if flagged else None
    if window is None and band_insight.starts_at:
        window = (band_insight.starts_at.date(), (band_insight.ends_at or band_insight.starts_at).date())
    return charts.anomaly_chart(f"alert-{insight.pk}@productops", days, values, window, insight.title[:80])


def build_message(
    rule: AlertRule, entries: list[tuple[Insight, int, bool]], *, test: bool = False
) -> AlertMessage:
    """The message for `entries` (insight, severity alerted at, escalation?), the most severe first."""
    entries = sorted(entries, key=lambda e: (-e[1], -(e[0].pk or 0)))
    listed, more = entries[:MAX_ITEMS], len(entries) - MAX_ITEMS
    ids = [insight.pk for insight, _, _ in listed if insight.pk]
    bands = {b.insight_id: b for b in InsightBand.objects.filter(insight_id__in=ids)}
    items = []
    drawn: dict[int, charts.Chart] = {}
    for insight, severity, escalation in listed:
        chart = chart_for(insight, bands) if len(drawn) < MAX_CHARTS else None
        if chart is not None:
            drawn[insight.pk] = chart
        try:
            target = kinds.target_url(insight)
            why = kinds.payload_of(insight).why()
        except kinds.UnknownKind:
            target, why = reverse("insights:detail", args=[insight.pk]), ""
        items.append(
            AlertItem(
                insight=insight,
                severity=severity,
                escalation=escalation,
                url=absolute(target),
                ack_url=absolute(
                    reverse("alerts:act", args=[make_action_token(insight.pk, rule.pk, "acknowledge")])
                ),
                mute_url=absolute(
                    reverse("alerts:act", args=[make_action_token(insight.pk, rule.pk, "mute")])
                ),
                chart_url=absolute(reverse("alerts:chart", args=[make_chart_token(insight.pk)]))
                if chart is not None
                else None,
                why=why,
                chart=chart,
            )
        )
    return AlertMessage(
        rule=rule,
        items=items,
        test=test,
        rule_url=absolute(reverse("alerts:detail", args=[rule.pk])),
        charts=drawn,
        more=max(0, more),
        more_url=absolute(reverse("insights:inbox")),
    )


def sample_insight(rule: AlertRule) -> Insight:
    """For "Send a test alert": the latest insight the rule would match, else an unsaved example."""
    from .selectors import matching_insights

    found = matching_insights(rule).order_by("-detected_at", "-pk").first()
    if found is not None:
        return found
    return Insight(
        pk=0,
        kind=InsightKind.ANOMALY,
        key="test",
        title="Test alert: this is how an insight will look",
        summary="productops sends alerts like this one when an insight matches the rule.",
        severity=max(rule.min_severity, Severity.MEDIUM),
        detected_at=timezone.now(),
    )
