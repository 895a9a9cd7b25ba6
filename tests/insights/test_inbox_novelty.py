"""The inbox says what is new since the PM's last visit: insights detected since, and insights whose
severity moved since (with the old severity), and `?new=1` lists only those."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from insights.models import Insight, InsightKind, Severity
from insights.services import upsert_insight
from tests.insights.factories import make_product

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _anomaly(product: Any, key: str, title: str, severity: int) -> Insight:
    insight, _ = upsert_insight(
        InsightKind.ANOMALY,
        f"metric:1:{key}",
        title=title,
        summary=f"{title} moved",
        severity=severity,
        product=product,
        starts_at=T0 - timedelta(days=2),
        ends_at=T0 - timedelta(days=1),
        payload={"series_id": f"metric:1:{key}", "signal": "metric"},
    )
    return insight


def _get(client: Client, when: datetime, query: str = "") -> str:
    with time_machine.travel(when, tick=False):
        response = client.get(f"/insights/{query}")
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, title: str) -> str:
    match = re.search(r"<tr>((?:(?!</tr>).)*" + re.escape(title) + r".*?)</tr>", html, re.S)
    assert match, f"{title} is not listed"
    return match.group(1)


def test_the_inbox_marks_what_is_new_or_changed_since_the_last_visit(pm_client: Client) -> None:
    product = make_product("atlas")
    with time_machine.travel(T0, tick=False):
        _anomaly(product, "signups", "Signups fell", Severity.MEDIUM)
        _anomaly(product, "latency", "Latency rose", Severity.LOW)

    first = _get(pm_client, T0 + timedelta(hours=1))
    assert "inbox-news" not in first and "novelty-new" not in first  # nothing to compare with yet

    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        _anomaly(product, "errors", "Errors spiked", Severity.HIGH)  # new
        _anomaly(product, "latency", "Latency rose", Severity.CRITICAL)  # worse
        _anomaly(product, "signups", "Signups fell", Severity.MEDIUM)  # recomputed, unchanged
    latency = Insight.objects.get(key="metric:1:latency")
    assert latency.previous_severity == Severity.LOW and latency.severity_changed_at is not None
    assert Insight.objects.get(key="metric:1:signups").severity_changed_at is None

    html = _get(pm_client, T0 + timedelta(hours=6))
    assert 'data-new="1" data-changed="1"' in html
    assert "novelty-new" in _row(html, "Errors spiked")
    assert "Worse (was Low)" in _row(html, "Latency rose")
    assert "badge novelty" not in _row(html, "Signups fell")

    only_new = _get(pm_client, T0 + timedelta(hours=6, minutes=5), "?new=1")
    assert "Errors spiked" in only_new and "Latency rose" in only_new
    assert "Signups fell" not in only_new
    assert "Show everything" in only_new

    # Reloading within the visit keeps the markers; the next visit starts from this one.
    assert "novelty-new" in _row(_get(pm_client, T0 + timedelta(hours=6, minutes=20)), "Errors spiked")
    later = _get(pm_client, T0 + timedelta(hours=9))
    assert 'data-new="0" data-changed="0"' in later and "badge novelty" not in later
    empty = _get(pm_client, T0 + timedelta(hours=9, minutes=1), "?new=1")
    assert "Nothing new since your last visit" in empty


def test_each_user_has_their_own_last_visit(pm_client: Client, lead_client: Client) -> None:
    product = make_product("atlas")
    with time_machine.travel(T0, tick=False):
        _anomaly(product, "signups", "Signups fell", Severity.MEDIUM)
    _get(pm_client, T0 + timedelta(hours=1))
    _get(lead_client, T0 + timedelta(hours=1))
    _get(pm_client, T0 + timedelta(hours=3))  # the PM looked again; the lead did not
    with time_machine.travel(T0 + timedelta(hours=4), tick=False):
        _anomaly(product, "errors", "Errors spiked", Severity.HIGH)
    assert 'data-new="1"' in _get(pm_client, T0 + timedelta(hours=5))
    assert 'data-new="1"' in _get(lead_client, T0 + timedelta(hours=5))
    assert 'data-new="0"' in _get(pm_client, T0 + timedelta(hours=7))
