from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from productops.core.health import write_heartbeat
from productops.core.models import WorkerHeartbeat
from tests.workers import celery_worker


@pytest.mark.django_db
def test_healthz_ok_with_fresh_heartbeat() -> None:
    write_heartbeat()
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "worker": "ok"}


@pytest.mark.django_db
def test_healthz_503_without_worker() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["database"] == "ok" and body["broker"] == "ok"
    assert body["worker"].startswith("error: no worker has ever reported")


@pytest.mark.django_db
def test_healthz_503_with_stale_heartbeat() -> None:
    WorkerHeartbeat.objects.create(hostname="old", last_seen_at=timezone.now() - timedelta(minutes=5))
    body = Client().get("/healthz").json()
    assert body["worker"].startswith("error: last worker heartbeat")


@pytest.mark.django_db
def test_healthz_503_when_broker_down() -> None:
    write_heartbeat()
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={}):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error:")
    assert response.json()["database"] == "ok"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_writes_heartbeat(settings: Any) -> None:
    assert not WorkerHeartbeat.objects.exists()
    with celery_worker():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not WorkerHeartbeat.objects.exists():
            time.sleep(0.5)
        body = Client().get("/healthz").json()
    assert body["worker"] == "ok", body
