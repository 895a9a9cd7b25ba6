"""Start real Celery worker processes against the test database (for tests about tasks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """DATABASE_URL for the database the test run is using (test_<name> on PostgreSQL)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{connection.settings_dict['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{connection.settings_dict['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@contextmanager
def celery_worker(
    queues: str = "default,connectors,insights,email",
    concurrency: int = 1,
    name: str = "",
    **extra_env: str,
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process (prefork pool, so time limits apply) named `name@host` when a name is given."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "productops",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{name or f'test-{os.getpid()}-{time.monotonic_ns()}'}@%h",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=worker_env(**extra_env), start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
