"""Fixtures for alert tests: a real SMTP sink, a real HTTP receiver that verifies Standard Webhooks
signatures, users and a product with a metric, and the planted anomaly helper."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import override_settings

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.portfolio.models import Product, Team
from productops.signals.ingest import upsert
from productops.signals.models import Metric, MetricPoint
from productops.signals.services import record_write
from tests.digests.conftest import eager_celery, smtp_server  # noqa: F401  (fixtures)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def slack_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "slack" / f"{name}.json").read_text())
    return data


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """A receiver's check, written from the Standard Webhooks spec (not from our sender's code):
    the signed content is "{webhook-id}.{webhook-timestamp}.{body}", HMAC-SHA256 with the base64-decoded
    part of the whsec_ secret, and webhook-signature is a space-separated list of "v1,<base64>"."""
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit():
        return False
    if abs(int(dt.datetime.now(dt.UTC).timestamp()) - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
    for candidate in headers.get("webhook-signature", "").split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return True
    return False


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    status: int = 200
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["verified"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records each POST and verifies its signature."""
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with rec.lock:
                verified = bool(rec.secret) and verify_standard_webhook(rec.secret, headers, body)
                rec.requests.append(
                    {"path": self.path, "headers": headers, "body": body, "verified": verified}
                )
                failing = len(rec.requests) <= rec.fail_first
            status = 503 if failing else rec.status
            reply = b"busy" if failing else b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/productops"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with override_settings(CONNECTOR_ALLOWED_NETWORKS=["127.0.0.0/8"]):
            yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def people(db: Any) -> dict[str, Any]:
    lead = create_user("lead", "lead@example.com", "lead-pass-123!", Role.LEAD, timezone="Europe/London")
    pm = create_user("pm", "pm@example.com", "pm-pass-123!", Role.PM, timezone="America/New_York")
    other = create_user("other", "other@example.com", "other-pass-123!", Role.PM)
    checkout = Product.objects.create(name="Checkout", slug="checkout")
    payments = Team.objects.create(name="Payments", slug="payments")
    payments.products.add(checkout)
    metric = Metric.objects.create(
        product=checkout,
        name="Orders",
        key="orders",
        external_id="orders",
        source_key="manual",
        aggregation="sum",
    )
    return {
        "lead": lead,
        "pm": pm,
        "other": other,
        "checkout": checkout,
        "payments": payments,
        "metric": metric,
    }


HISTORY_DAYS = 120
END = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def plant(metric: Metric, spike: float = 1.0, days: int = 2) -> None:
    """Write a steady daily series with its last `days` days multiplied by `spike`, through the write
    path (upsert, then record_write, which queues the scoped recompute: one detection cycle)."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(HISTORY_DAYS):
        ts = END - dt.timedelta(days=HISTORY_DAYS - 1 - i)
        value = float(1000 + rng.normal(0, 10))
        if i >= HISTORY_DAYS - days:
            value *= spike
        rows.append(
            {"metric_id": metric.pk, "ts": ts, "dimension_key": "", "dimension_value": "", "value": value}
        )
    upsert(MetricPoint, rows)
    record_write("manual", ["metrics"], [metric.product_id], since=rows[0]["ts"], metric_ids=[metric.pk])
