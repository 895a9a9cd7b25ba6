"""Acknowledge and mute from the alert: signed links that update the insight's triage."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from insights.models import InsightEvent, InsightStatus, Severity
from insights.services import upsert_insight
from productops.alerts.tokens import make_action_token, make_chart_token

from .helpers import make_rule


@pytest.fixture
def alerted(people: dict[str, Any]) -> tuple[Any, Any]:
    rule = make_rule(people["pm"], name="Checkout alerts")
    insight, _ = upsert_insight(
        "anomaly", "metric:1::x", title="Orders dip", severity=Severity.HIGH, product=people["checkout"]
    )
    return rule, insight


def url(insight: Any, rule: Any, action: str) -> str:
    return reverse("alerts:act", args=[make_action_token(insight.pk, rule.pk, action)])


@pytest.mark.django_db
def test_acknowledge_link_asks_on_get_and_acts_on_post_without_a_session(alerted: tuple[Any, Any]) -> None:
    rule, insight = alerted
    client = Client(enforce_csrf_checks=True)
    page = client.get(url(insight, rule, "acknowledge"))
    assert page.status_code == 200 and "Acknowledge this insight?" in page.content.decode()
    insight.refresh_from_db()
    assert insight.status == InsightStatus.NEW  # a link scanner's GET changes nothing
    done = client.post(url(insight, rule, "acknowledge"))
    assert done.status_code == 200 and "Acknowledged" in done.content.decode()
    insight.refresh_from_db()
    assert insight.status == InsightStatus.ACKNOWLEDGED
    event = InsightEvent.objects.get(insight=insight)
    assert event.action == "acknowledge" and event.comment == "From the alert “Checkout alerts”"


@pytest.mark.django_db
def test_mute_link_mutes_for_seven_days(alerted: tuple[Any, Any]) -> None:
    rule, insight = alerted
    now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(now, tick=False):
        assert Client().post(url(insight, rule, "mute")).status_code == 200
    insight.refresh_from_db()
    assert insight.status == InsightStatus.MUTED and insight.muted_until == now + dt.timedelta(days=7)


@pytest.mark.django_db
def test_forged_swapped_and_expired_links_are_refused(alerted: tuple[Any, Any]) -> None:
    rule, insight = alerted
    good = make_action_token(insight.pk, rule.pk, "mute")
    forged = good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb")
    assert Client().post(reverse("alerts:act", args=[forged])).status_code == 400
    # A chart token is signed with another salt: it cannot act.
    assert Client().post(reverse("alerts:act", args=[make_chart_token(insight.pk)])).status_code == 400
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=31)):
        page = Client().post(reverse("alerts:act", args=[good]))
    assert page.status_code == 400 and "expired" in page.content.decode()
    insight.refresh_from_db()
    assert insight.status == InsightStatus.NEW


@pytest.mark.django_db
def test_chart_link_serves_a_png_only_for_a_signed_insight(alerted: tuple[Any, Any]) -> None:
    from insights.models import InsightBand

    _, insight = alerted
    InsightBand.objects.create(
        insight=insight, points=[[f"2026-11-{d:02d}", 100.0 + d, 100, 90, 110, d > 25] for d in range(1, 29)]
    )
    response = Client().get(reverse("alerts:chart", args=[make_chart_token(insight.pk)]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    assert Client().get(reverse("alerts:chart", args=["not-a-token"])).status_code == 404
