"""The test suite keeps its own state: `make test` beside `make run` changes nothing in the dev data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from kombu import Connection, Exchange, Producer, Queue

from productops.celery import app

ROOT = Path(__file__).resolve().parents[2]
DEV_VAR_DIR = Path(os.environ.get("PRODUCTOPS_VAR_DIR_DEV", ROOT / "var"))


def _dev_transport_options() -> dict[str, object]:
    """What a `make run` worker (productops.settings, default var dir) uses for the same broker URL."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = str(DEV_VAR_DIR / "broker")
        return {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder + "/control"}
    return {}


def test_the_suite_uses_its_own_var_directory_cache_and_lock_keys() -> None:
    assert Path(settings.VAR_DIR).resolve() != DEV_VAR_DIR.resolve()
    assert settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache")
    assert Path(settings.CACHES["default"]["LOCATION"]).is_relative_to(settings.VAR_DIR)
    assert settings.LOCK_KEY_PREFIX != "productops:"
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert Path(settings.DATABASES["default"]["TEST"]["NAME"]).is_relative_to(settings.VAR_DIR)


def test_a_task_the_tests_queue_is_invisible_to_a_dev_worker_on_the_same_broker() -> None:
    queue_name = "productops-isolation-probe"  # fixed: the broker keeps a queue's binding keys
    exchange = Exchange(queue_name, type="direct")
    queue = Queue(queue_name, exchange, routing_key=queue_name)
    with app.connection_for_write() as conn:
        Producer(conn.default_channel).publish(
            {"probe": queue_name}, exchange=exchange, routing_key=queue_name, declare=[queue]
        )
    with Connection(settings.CELERY_BROKER_URL, transport_options=_dev_transport_options()) as dev:
        assert dev.default_channel.basic_get(queue_name, no_ack=True) is None
    with app.connection_for_read() as conn:
        message = conn.default_channel.basic_get(queue_name, no_ack=True)
        assert message is not None and queue_name in str(message.body)
        conn.default_channel.queue_delete(queue_name)
        conn.default_channel.exchange_delete(queue_name)


def test_processes_the_tests_start_inherit_the_test_state() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.VAR_DIR)",
        ],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert Path(out.stdout.strip().splitlines()[-1]).resolve() == Path(settings.VAR_DIR).resolve()
