"""Fixtures for digest tests: users in timezones, eager Celery, and a real SMTP server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.celery import app as celery_app
from productops.digests.services import ensure_subscription


def make_subscriber(
    username: str, tz: str, weekday: int = 0, hour: int = 9, role: Role = Role.PM, **fields: Any
) -> Any:
    user = create_user(username, f"{username}@example.com", "a-long-pass-123!", role, timezone=tz)
    sub = ensure_subscription(user)
    sub.weekday, sub.hour = weekday, hour
    for name, value in fields.items():
        setattr(sub, name, value)
    sub.save()
    return user


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run .delay() in-process, as a worker would, so the real task code (and its retries) runs."""
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps each accepted message and can refuse the first N DATA commands."""

    refuse_first: int = 0
    data_commands: int = 0
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_commands += 1
            if self.data_commands <= self.refuse_first:
                return "451 4.3.0 Temporary failure, try again later"
            self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, Any]]:
    """A real SMTP server on 127.0.0.1, and Django's SMTP backend pointed at it."""
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_TIMEOUT=10,
        ):
            yield handler, controller
    finally:
        controller.stop()


NOW = __import__("datetime").datetime(2026, 11, 23, 9, 30, tzinfo=__import__("datetime").UTC)  # Mon, W48


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """Two products and teams, KPIs with eight weeks of points, insights, shipped items, a failing connector.

    It mirrors the demo's shape: the planted incident (high severity, on checkout) sits beside a
    higher-scored anomaly, a medium one, a critical one on another product and an old one.
    """
    import datetime as dt

    from connectors.models import Connection
    from insights import kinds
    from insights.models import Insight, InsightStatus, Severity
    from insights.services import upsert_insight
    from productops.portfolio.models import PortfolioItem, Product, Team
    from productops.signals.models import Metric, MetricPoint

    checkout = Product.objects.create(name="Checkout", slug="checkout")
    mobile = Product.objects.create(name="Mobile", slug="mobile")
    payments = Team.objects.create(name="Payments", slug="payments")
    apps = Team.objects.create(name="Apps", slug="apps")
    payments.products.add(checkout)
    apps.products.add(mobile)

    conversion = Metric.objects.create(
        product=checkout,
        name="Checkout conversion",
        key="conversion",
        external_id="m1",
        source_key="demo",
        aggregation="mean",
    )
    signups = Metric.objects.create(
        product=mobile, name="Sign-ups", key="signups", external_id="m2", source_key="demo", aggregation="sum"
    )
    points = []
    for day in range(56):
        ts = NOW - dt.timedelta(days=56 - day)
        this_week = ts >= NOW - dt.timedelta(days=7)
        points.append(MetricPoint(metric=conversion, ts=ts, value=0.30 if this_week else 0.40))
        points.append(MetricPoint(metric=signups, ts=ts, value=120 if this_week else 100))
    MetricPoint.objects.bulk_create(points)

    def insight(kind: str, key: str, severity: int, product: Any, days_ago: float, **extra: Any) -> Insight:
        """Written the way producers write: through upsert_insight, with the kind's typed payload."""
        when = NOW - dt.timedelta(days=days_ago)
        status = extra.pop("status", None)
        payload = extra.pop("payload", None) or kinds.spec_of(kind).payload()
        row, _ = upsert_insight(
            kind,
            key,
            severity=severity,
            product_id=product.pk if product else None,
            starts_at=when,
            title=extra.pop("title", key),
            payload=payload,
            **extra,
        )
        Insight.objects.filter(pk=row.pk).update(detected_at=when, **({"status": status} if status else {}))
        row.refresh_from_db()
        return row

    incident = insight(
        "incident",
        "incident:checkout",
        Severity.HIGH,
        checkout,
        5,
        title="Checkout conversion fell 25% after the new-checkout flag",
        summary="Conversion, support tickets tagged billing and the flag moved together.",
        payload=kinds.IncidentPayload(
            evidence=[
                {
                    "type": "anomaly",
                    "signal": "metric",
                    "label": "Checkout conversion",
                    "key": "anomaly:checkout:aov",
                },
                {"type": "flag", "signal": "flag", "label": "new-checkout flag", "ref": "new-checkout"},
            ],
            signal_types=["metric", "flag"],
        ),
    )
    insight(
        "anomaly",
        "anomaly:checkout:latency",
        Severity.HIGH,
        checkout,
        1,
        score=5.0,
        title="Checkout latency spike",
        payload=kinds.AnomalyPayload(
            series_id="latency",
            signal="metric",
            drivers=[{"key": "region", "value": "eu-west", "share": 0.82}],
        ),
    )
    insight(
        "anomaly",
        "anomaly:checkout:aov",
        Severity.MEDIUM,
        checkout,
        2,
        title="Order value dip",
        payload=kinds.AnomalyPayload(
            series_id=f"metric:{conversion.pk}", signal="metric", metric_id=conversion.pk
        ),
    )
    insight("anomaly", "anomaly:mobile:crash", Severity.CRITICAL, mobile, 3, title="Mobile crash rate spike")
    insight("anomaly", "anomaly:checkout:old", Severity.CRITICAL, checkout, 20, title="Last month's outage")
    insight(
        "incident",
        "incident:muted",
        Severity.CRITICAL,
        checkout,
        1,
        title="Muted incident",
        status=InsightStatus.MUTED,
    )
    insight(
        "theme",
        "theme:billing-export",
        Severity.LOW,
        checkout,
        2,
        title="Rising: billing export fails",
        payload=kinds.ThemePayload(quotes=["The billing export fails every Monday."]),
    )
    insight(
        "nps_shift",
        "nps:checkout",
        Severity.MEDIUM,
        checkout,
        3,
        title="NPS down 6 points",
        payload=kinds.NpsShiftPayload(delta=-6, ci_low=21.5, ci_high=33.5),
    )
    # An overlap between the two teams, on neither team's products: each team's followers must get it.
    insight(
        "overlap",
        "overlap:apps-payments",
        Severity.MEDIUM,
        None,
        2,
        title="Two teams build wallet sync",
        team_id=payments.pk,
        team_ids=[payments.pk, apps.pk],
    )
    insight("experiment_verdict", "exp:one-click", Severity.LOW, checkout, 1, title="One-click pay wins")

    def item(ext: str, title: str, product: Any, team: Any, days_ago: float, **extra: Any) -> None:
        PortfolioItem.objects.create(
            source_key="demo",
            external_id=ext,
            title=title,
            product=product,
            team=team,
            status_category="done",
            done_at=NOW - dt.timedelta(days=days_ago),
            **extra,
        )

    item("P-1", "Apple Pay at checkout", checkout, payments, 2, kind="epic")
    item("P-2", "Fix coupon rounding", checkout, payments, 3)
    item("P-3", "Shipped last month", checkout, payments, 30)
    item("P-4", "Deleted at the source", checkout, payments, 2, is_gone=True)
    item("A-1", "Dark mode", mobile, apps, 1)

    Connection.objects.create(
        name="Zendesk",
        kind="http_json",
        error_streak=3,
        last_error="401 Unauthorized",
        last_success_at=NOW - dt.timedelta(days=3),
    )
    Connection.objects.create(name="Amplitude", kind="http_json", last_success_at=NOW - dt.timedelta(hours=1))
    return {"checkout": checkout, "mobile": mobile, "payments": payments, "apps": apps, "incident": incident}
