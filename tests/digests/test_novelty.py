"""The digest says what is new since the user's last one, and does not inflate severity (novelty.py)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC
from typing import Any

import pytest
import time_machine

from insights.models import Insight, InsightKind, InsightStatus, Severity
from productops.digests import services
from productops.digests.build import build_digest
from productops.digests.models import DigestMention, Weekday
from productops.portfolio.models import Product

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db


def _at(day: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, 12, tzinfo=UTC)


def _insight(
    kind: str, key: str, severity: int, product: Any, start: dt.datetime, end: dt.datetime, **kw: Any
) -> Insight:
    return Insight.objects.create(
        kind=kind,
        key=key,
        title=kw.pop("title", key),
        severity=severity,
        product=product,
        starts_at=start,
        ends_at=end,
        detected_at=start,
        payload=kw.pop("payload", {}),
        **kw,
    )


def _titles(digest: Any) -> dict[str, str]:
    return {i.title: i.novelty for s in digest.sections for i in s.items}


def test_a_week_later_the_unchanged_incident_is_not_repeated_and_changes_are_said(smtp_server: Any) -> None:
    product = Product.objects.create(name="Pulse", slug="pulse")
    alice = make_subscriber("alice", "UTC", Weekday.MONDAY, 9)
    two_signals = {
        "evidence": [{"type": "anomaly", "label": "Core usage"}, {"type": "anomaly", "label": "Tickets"}]
    }
    ongoing = _insight(
        InsightKind.INCIDENT,
        "incident:pulse:1",
        Severity.HIGH,
        product,
        _at(20),
        _at(27),
        payload=two_signals,
    )

    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 1, tzinfo=UTC), tick=False):
        assert services.deliver_digest(alice.pk, "2026-W48") == "sent"
    assert DigestMention.objects.filter(user=alice, insight=ongoing, week="2026-W48").exists()

    fresh = _insight(InsightKind.INCIDENT, "incident:pulse:2", Severity.MEDIUM, product, _at(25), _at(26))
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, 1, tzinfo=UTC), tick=False):
        week49 = build_digest(alice, "2026-W49", with_charts=False)
    # Still inside next week's window, but unchanged: not repeated. The new one leads, marked new.
    assert _titles(week49) == {fresh.title: "New"}
    assert week49.top[0].title == fresh.title

    # It got worse: shown again, saying why.
    Insight.objects.filter(pk=ongoing.pk).update(severity=Severity.CRITICAL)
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, 1, tzinfo=UTC), tick=False):
        worse = build_digest(alice, "2026-W49", with_charts=False)
    assert _titles(worse)[ongoing.title] == "Severity up from High"
    assert worse.top[0].title == ongoing.title  # critical and changed: it leads

    # It grew (a third signal joined), at the old severity.
    grown = {"evidence": [*two_signals["evidence"], {"type": "anomaly", "label": "NPS"}]}
    Insight.objects.filter(pk=ongoing.pk).update(severity=Severity.HIGH, payload=grown)
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, 1, tzinfo=UTC), tick=False):
        assert (
            _titles(build_digest(alice, "2026-W49", with_charts=False))[ongoing.title]
            == "Grew: 2 → 3 signals"
        )

    # Unchanged and still open three weeks later: one reminder that says since when.
    Insight.objects.filter(pk=ongoing.pk).update(payload=two_signals, ends_at=_at(14, 12))
    with time_machine.travel(dt.datetime(2026, 12, 14, 9, 1, tzinfo=UTC), tick=False):
        later = build_digest(alice, "2026-W51", with_charts=False)
    assert _titles(later)[ongoing.title] == "Still open since 23 Nov"
    # Resolved instead: nothing to remind.
    Insight.objects.filter(pk=ongoing.pk).update(status=InsightStatus.RESOLVED)
    with time_machine.travel(dt.datetime(2026, 12, 14, 9, 1, tzinfo=UTC), tick=False):
        assert ongoing.title not in _titles(build_digest(alice, "2026-W51", with_charts=False))


def test_one_dip_across_dimensions_is_one_row_and_a_weak_overlap_is_not_high() -> None:
    product = Product.objects.create(name="Ledger", slug="ledger")
    bob = make_subscriber("bob", "UTC", Weekday.MONDAY, 9)
    total_key = "metric:7::2026-11-18"
    _insight(
        InsightKind.ANOMALY,
        total_key,
        Severity.HIGH,
        product,
        _at(18),
        _at(19),
        title="Sign-ups −40% vs expected",
        payload={"metric_id": 7, "dimension_key": "", "label": "Sign-ups", "size_pct": -0.4},
    )
    for dim, value in (("platform", "android"), ("os", "android 14"), ("country", "BR"), ("country", "IN")):
        _insight(
            InsightKind.ANOMALY,
            f"metric:7:{dim}={value}:2026-11-18",
            Severity.CRITICAL,
            product,
            _at(18),
            _at(19),
            title=f"Sign-ups · {dim}={value} −70% vs expected",
            payload={
                "metric_id": 7,
                "dimension_key": dim,
                "dimension_value": value,
                "size_pct": -0.7,
                "parent": total_key,
            },
        )
    # Two dimension values of another metric dip the same day, with no total event: one row too.
    for value in ("ios", "web"):
        _insight(
            InsightKind.ANOMALY,
            f"metric:8:platform={value}:2026-11-19",
            Severity.MEDIUM,
            product,
            _at(19),
            _at(19),
            title=f"Revenue · platform={value} dip",
            payload={"metric_id": 8, "dimension_key": "platform", "dimension_value": value, "size_pct": -0.2},
        )
    _insight(
        InsightKind.OVERLAP,
        "overlap:x",
        Severity.HIGH,
        product,
        _at(18),
        _at(20),
        title="Two teams build exports",
        payload={"similarity": 0.19},
    )
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 1, tzinfo=UTC), tick=False):
        digest = build_digest(bob, "2026-W48", with_charts=False)
    rows = {i.title: i for s in digest.sections for i in s.items}
    anomalies = [t for t in rows if rows[t].kind == "anomaly"]
    assert len(anomalies) == 2 and "Sign-ups −40% vs expected" in anomalies
    total = rows["Sign-ups −40% vs expected"]
    assert total.severity == Severity.HIGH  # the parent's own severity, not its children's "Critical"
    assert total.why.startswith("Also moved: ") and "platform=android −70%" in total.why
    assert "country=IN −70%" in total.why and "os=android 14 −70%" in total.why
    revenue = next(rows[t] for t in anomalies if t.startswith("Revenue"))
    other = "web" if revenue.title.endswith("ios dip") else "ios"
    assert f"platform={other}" in revenue.why
    assert rows["Two teams build exports"].severity == Severity.LOW
