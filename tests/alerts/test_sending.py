"""Evaluation and sending: exactly-once claims, escalation, retries with backoff, quiet hours in the
owner's timezone, hourly batches, the e-mail itself, and metric thresholds."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.test import override_settings

from insights.models import Insight, InsightStatus, Severity
from insights.services import upsert_insight
from productops.alerts import services, timing
from productops.alerts.models import AlertDelivery, Cadence, Comparator, DeliveryStatus
from productops.alerts.selectors import due_rule_ids
from productops.signals.ingest import upsert
from productops.signals.models import MetricPoint

from .helpers import make_rule, parse_mail, text_of, webhook_rule

T0 = dt.datetime(2026, 12, 2, 15, 10, tzinfo=dt.UTC)  # a Wednesday


def insight(
    people: dict[str, Any], key: str, severity: int = Severity.HIGH, kind: str = "anomaly"
) -> Insight:
    row, _ = upsert_insight(kind, key, title=f"Insight {key}", severity=severity, product=people["checkout"])
    return row


@pytest.mark.django_db
def test_one_alert_per_insight_per_rule_and_again_only_on_escalation(
    people: dict[str, Any], smtp_server: Any
) -> None:
    handler, _ = smtp_server
    rule = make_rule(people["pm"], products=[people["checkout"]])
    with time_machine.travel(T0, tick=False):
        insight(people, "a", Severity.MEDIUM)
        insight(people, "low", Severity.LOW)  # below the rule's minimum
        for _ in range(3):
            for rule_id in services.evaluate_rules():
                services.deliver_rule(rule_id)
    assert len(handler.messages) == 1
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        insight(people, "a", Severity.MEDIUM)  # recomputed, unchanged
        insight(people, "a", Severity.LOW)  # de-escalated: nothing
        for rule_id in services.evaluate_rules():
            services.deliver_rule(rule_id)
        assert len(handler.messages) == 1
        insight(people, "a", Severity.CRITICAL)
        for rule_id in services.evaluate_rules():
            services.deliver_rule(rule_id)
    assert len(handler.messages) == 2
    assert parse_mail(handler.messages[1])["Subject"].strip() == "Escalated to Critical: Insight a"
    assert list(
        AlertDelivery.objects.filter(rule=rule).order_by("severity").values_list("severity", "escalation")
    ) == [
        (Severity.MEDIUM, False),
        (Severity.CRITICAL, True),
    ]


@pytest.mark.django_db
def test_a_claim_is_taken_once_and_a_dead_workers_claim_is_taken_over(people: dict[str, Any]) -> None:
    rule = make_rule(people["pm"])
    with time_machine.travel(T0, tick=False):
        insight(people, "a")
        services.evaluate_rules()
        first = services.claim(rule.pk)
        assert first is not None
        assert services.claim(rule.pk) is None  # a second worker finds nothing to claim
        assert due_rule_ids() == []
    later = T0 + dt.timedelta(seconds=601)  # past ALERT_CLAIM_TIMEOUT: the first worker died
    assert due_rule_ids(later) == [rule.pk]
    second = services.claim(rule.pk, later)
    assert second is not None and second != first


@pytest.mark.django_db
@override_settings(ALERT_RETRY_BASE=60, ALERT_RETRY_CAP=600, ALERT_MAX_ATTEMPTS=4)
def test_a_failing_destination_retries_with_backoff_then_recovers(
    people: dict[str, Any], receiver: Any
) -> None:
    rule, receiver.secret = webhook_rule(people["lead"], receiver.url)
    receiver.fail_first = 2
    with time_machine.travel(T0, tick=False):
        insight(people, "a")
        services.evaluate_rules()
        assert services.deliver_rule(rule.pk) == "failed"
        assert services.deliver_rule(rule.pk) == "nothing"  # not due again yet
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.due_at) == (
        DeliveryStatus.FAILED,
        1,
        T0 + dt.timedelta(seconds=60),
    )
    rule.refresh_from_db()
    assert "HTTP 503" in rule.last_error
    with time_machine.travel(T0 + dt.timedelta(seconds=60), tick=False):
        assert due_rule_ids() == [rule.pk]
        assert services.deliver_rule(rule.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.due_at == T0 + dt.timedelta(seconds=60 + 120)  # doubled
    with time_machine.travel(T0 + dt.timedelta(seconds=180), tick=False):
        assert services.deliver_rule(rule.pk) == "sent"
    delivery.refresh_from_db()
    rule.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 3 and rule.last_error == ""
    # The same message id on every attempt, so the receiver can drop duplicates.
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 3


@pytest.mark.django_db
@override_settings(ALERT_RETRY_BASE=60, ALERT_RETRY_CAP=600, ALERT_MAX_ATTEMPTS=2)
def test_it_gives_up_after_the_last_attempt(people: dict[str, Any], receiver: Any) -> None:
    rule, receiver.secret = webhook_rule(people["lead"], receiver.url)
    receiver.fail_first = 10
    with time_machine.travel(T0, tick=False):
        insight(people, "a")
        services.evaluate_rules()
        services.deliver_rule(rule.pk)
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        assert services.deliver_rule(rule.pk) == "gave_up"
        assert due_rule_ids() == []
    rule.refresh_from_db()
    assert "Gave up after 2 attempts" in rule.last_error


def test_quiet_hours_wrap_midnight_and_follow_the_timezone() -> None:
    ny = "America/New_York"
    at = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)  # 03:30 in New York
    assert timing.in_quiet_hours(at, 22, 7, ny)
    assert not timing.in_quiet_hours(at, 22, 7, "Asia/Tokyo")  # 17:30 there
    assert timing.after_quiet_hours(at, 22, 7, ny) == dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    assert timing.after_quiet_hours(at, 1, 5, ny) == dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    assert timing.after_quiet_hours(at, 5, 22, ny) == at  # 03:30 is outside 05-22
    # Across the spring-forward night (2026-03-08, 02:00 skipped in New York): quiet 00-06 ends 06:00 EDT.
    spring = dt.datetime(2026, 3, 8, 6, 30, tzinfo=dt.UTC)  # 01:30 EST
    assert timing.after_quiet_hours(spring, 0, 6, ny) == dt.datetime(2026, 3, 8, 10, 0, tzinfo=dt.UTC)
    assert timing.next_hour(at) == dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    assert timing.backoff(1, 60, 600) == dt.timedelta(seconds=60)
    assert timing.backoff(5, 60, 600) == dt.timedelta(seconds=600)


@pytest.mark.django_db
def test_an_alert_found_in_quiet_hours_waits_until_they_end(people: dict[str, Any], smtp_server: Any) -> None:
    handler, _ = smtp_server
    rule = make_rule(people["pm"], quiet_start=22, quiet_end=7)  # the PM is in New York
    night = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)  # 03:30 there
    with time_machine.travel(night, tick=False):
        insight(people, "a")
        assert services.evaluate_rules() == []
        assert due_rule_ids() == [] and services.deliver_rule(rule.pk) == "nothing"
    assert AlertDelivery.objects.get().due_at == dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(dt.datetime(2026, 12, 2, 12, 0, 30, tzinfo=dt.UTC), tick=False):
        assert due_rule_ids() == [rule.pk]
        assert services.deliver_rule(rule.pk) == "sent"
    assert len(handler.messages) == 1


@pytest.mark.django_db
def test_hourly_rules_send_one_batch_at_the_top_of_the_hour(people: dict[str, Any], smtp_server: Any) -> None:
    handler, _ = smtp_server
    rule = make_rule(people["lead"], cadence=Cadence.HOURLY)
    for minute, key in ((15, "a"), (40, "b")):
        with time_machine.travel(T0.replace(minute=minute), tick=False):
            insight(people, key)
            assert services.evaluate_rules() == []
            assert services.deliver_rule(rule.pk) == "nothing"
    with time_machine.travel(T0.replace(hour=16, minute=0, second=5), tick=False):
        assert due_rule_ids() == [rule.pk]
        assert services.deliver_rule(rule.pk) == "sent"
    assert len(handler.messages) == 1
    msg = parse_mail(handler.messages[0])
    assert msg["Subject"].strip() == "2 new insights for “email rule”"
    assert "Insight a" in text_of(msg) and "Insight b" in text_of(msg)


@pytest.mark.django_db
def test_an_escalation_replaces_a_waiting_lower_alert(people: dict[str, Any], smtp_server: Any) -> None:
    handler, _ = smtp_server
    rule = make_rule(people["lead"], cadence=Cadence.HOURLY)
    with time_machine.travel(T0, tick=False):
        insight(people, "a", Severity.MEDIUM)
        services.evaluate_rules()
        insight(people, "a", Severity.CRITICAL)
        services.evaluate_rules()
    with time_machine.travel(T0.replace(hour=16, minute=1), tick=False):
        services.deliver_rule(rule.pk)
    assert len(handler.messages) == 1
    assert list(AlertDelivery.objects.values_list("severity", "status")) == [(Severity.CRITICAL, "sent")]


@pytest.mark.django_db
def test_the_email_has_text_html_an_inline_chart_and_signed_links(
    people: dict[str, Any], smtp_server: Any
) -> None:
    from insights.models import InsightBand

    handler, _ = smtp_server
    make_rule(people["pm"])
    row = insight(people, "a")
    days = [(T0 - dt.timedelta(days=20 - i)).date().isoformat() for i in range(21)]
    InsightBand.objects.create(
        insight=row,
        points=[[d, 100.0 - (30 if i > 18 else 0), 100, 90, 110, i > 18] for i, d in enumerate(days)],
    )
    for rule_id in services.evaluate_rules():
        services.deliver_rule(rule_id)
    msg = parse_mail(handler.messages[0])
    html = msg.get_body(preferencelist=("html",)).get_content()
    cids = set(re.findall(r'src="cid:([^"]+)"', html))
    images = {p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"}
    assert cids == images == {f"alert-{row.pk}@productops"}
    assert f"/insights/{row.pk}/" in html and html.count("/alerts/act/") == 2


@pytest.mark.django_db
def test_connector_kinds_reach_only_the_leads_rules(people: dict[str, Any]) -> None:
    pm_rule = make_rule(people["pm"], kinds=[], min_severity=0)
    lead_rule = make_rule(people["lead"], kinds=[], min_severity=0)
    insight(people, "conn", Severity.HIGH, kind="stale_connector")
    services.evaluate_rules()
    assert not AlertDelivery.objects.filter(rule=pm_rule).exists()
    assert AlertDelivery.objects.filter(rule=lead_rule).exists()


@pytest.mark.django_db
def test_a_new_rule_does_not_page_about_old_insights_and_skips_triaged_ones(people: dict[str, Any]) -> None:
    with time_machine.travel(T0 - dt.timedelta(hours=1), tick=False):
        insight(people, "old")
    with time_machine.travel(T0, tick=False):
        rule = make_rule(people["pm"], created_at=T0)
        done = insight(people, "acked")
        Insight.objects.filter(pk=done.pk).update(status=InsightStatus.ACKNOWLEDGED)
        services.evaluate_rules()
    assert not AlertDelivery.objects.filter(rule=rule).exists()


@pytest.mark.django_db
def test_a_metric_threshold_raises_an_insight_alerts_once_and_resolves(
    people: dict[str, Any], smtp_server: Any
) -> None:
    handler, _ = smtp_server
    metric = people["metric"]
    make_rule(
        people["pm"],
        kinds=[],
        threshold_metric=metric,
        comparator=Comparator.BELOW,
        threshold=500,
        min_severity=Severity.HIGH,
    )

    def write(values: list[float]) -> None:
        upsert(
            MetricPoint,
            [
                {
                    "metric_id": metric.pk,
                    "ts": T0.replace(hour=0, minute=0) - dt.timedelta(days=len(values) - 1 - i),
                    "dimension_key": "",
                    "dimension_value": "",
                    "value": v,
                }
                for i, v in enumerate(values)
            ],
        )

    with time_machine.travel(T0, tick=False):
        write([900, 880, 450, 420])
        for rule_id in services.evaluate_rules():
            services.deliver_rule(rule_id)
        for rule_id in services.evaluate_rules():
            services.deliver_rule(rule_id)
    raised = Insight.objects.get(kind="metric_threshold")
    assert raised.title.startswith("Orders fell below 500 (420")
    assert raised.severity == Severity.HIGH and raised.key.endswith(
        (T0 - dt.timedelta(days=1)).date().isoformat()
    )
    assert len(handler.messages) == 1
    assert f"/explore/?metric={metric.pk}" in text_of(parse_mail(handler.messages[0]))
    with time_machine.travel(T0 + dt.timedelta(minutes=10), tick=False):
        write([900, 880, 450, 700])
        services.evaluate_rules()
    raised.refresh_from_db()
    assert raised.status == InsightStatus.RESOLVED
