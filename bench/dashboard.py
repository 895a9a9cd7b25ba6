"""Dashboard speed: the overview, a product page and the explorer under 16 concurrent clients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/productops_bench python bench/dashboard.py

Seeds `seed_demo --scale 11` (at least 5M metric points and 500k tickets) once into that database,
serves it with gunicorn (4 workers), and drives it for 30 s with wrk from a second process (Debian's
wrk; a Python client when wrk is missing). Ends with:

    dashboard: rows=N p50_ms=A p95_ms=B rps=C queries_per_page=Q
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

PORT = int(os.environ.get("BENCH_PORT", "8799"))
DURATION = int(os.environ.get("BENCH_SECONDS", "30"))
CLIENTS = 16
SCALE = int(os.environ.get("BENCH_SCALE", "11"))  # scale 10 seeds 4.9M points; 11 passes 5M


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench/dashboard.py needs DATABASE_URL=postgres://... (a scratch database it may fill)")
        return 2
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from productops.accounts.roles import Role
    from productops.accounts.services import create_user
    from productops.dashboards import rollups
    from productops.signals.models import Metric, MetricPoint, SupportTicket

    call_command("migrate", verbosity=0)
    points = MetricPoint.objects.count()
    tickets = SupportTicket.objects.count()
    if points < 5_000_000 or tickets < 500_000:
        started = time.monotonic()
        print(f"seeding demo data at scale {SCALE} (once; this takes a while)...", flush=True)
        call_command("seed_demo", scale=SCALE, verbosity=0)
        rollups.refresh_all()
        points, tickets = MetricPoint.objects.count(), SupportTicket.objects.count()
        print(f"seeded in {time.monotonic() - started:.0f}s", flush=True)
    rows = points + tickets
    print(f"rows: {points:,} metric points + {tickets:,} tickets", flush=True)
    create_user("bench", "bench@example.com", "bench-password-123", Role.PM)

    metric = next((m for m in Metric.objects.order_by("pk")[:50] if m.dimensions), None)
    product_slug = metric.product.slug if metric and metric.product else ""
    paths = [
        "/",
        f"/products/{product_slug}/",
        f"/explore/?metric={metric.pk if metric else ''}&breakdown=platform",
    ]

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(create_user("bench", "bench@example.com", "bench-password-123", Role.PM))
    queries = []
    for path in paths:
        client.get(path)  # warm
        with CaptureQueriesContext(connection) as ctx:
            status = client.get(path).status_code
        assert status == 200, (path, status)
        queries.append(len(ctx.captured_queries))
    connection.close()

    env = {**os.environ, "PRODUCTOPS_ENV": "dev", "DEBUG": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "productops.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{PORT}"
        cookie = _login_cookie(base)
        for path in paths:  # warm every worker's caches
            for _ in range(8):
                _get(base + path, cookie)
        if shutil.which("wrk"):
            p50, p95, rps = _wrk(base, paths, cookie)
        else:
            p50, p95, rps = _python_load(base, paths, cookie)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    print(f"pages: {paths}; queries per page: {queries}")
    print(
        f"dashboard: rows={rows} p50_ms={p50:.1f} p95_ms={p95:.1f} rps={rps:.1f} queries_per_page={max(queries)}"
    )
    return 0


def _login_cookie(base: str) -> str:
    import requests

    deadline = time.monotonic() + 60
    while True:
        try:
            session = requests.Session()
            page = session.get(f"{base}/accounts/login/", timeout=5)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token
    session.post(
        f"{base}/accounts/login/",
        data={"username": "bench", "password": "bench-password-123", "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    return f"sessionid={session.cookies['sessionid']}"


def _get(url: str, cookie: str) -> int:
    import requests

    return requests.get(url, headers={"Cookie": cookie}, timeout=30).status_code


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50=%%f p95=%%f requests=%%d errors=%%d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def _wrk(base: str, paths: list[str], cookie: str) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CLIENTS}",
            f"-d{DURATION}s",
            "--timeout",
            "10s",
            "-H",
            f"Cookie: {cookie}",
            "-s",
            script.name,
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out)
    m = re.search(r"RESULT p50=([\d.]+) p95=([\d.]+) requests=(\d+) errors=(\d+)", out)
    assert m, out
    if int(m.group(4)):
        print(f"WARNING: {m.group(4)} errors during the run")
    return float(m.group(1)), float(m.group(2)), int(m.group(3)) / DURATION


def _python_load(base: str, paths: list[str], cookie: str) -> tuple[float, float, float]:
    import statistics
    import threading

    import requests

    latencies: list[float] = []
    stop = time.monotonic() + DURATION

    def run(n: int) -> None:
        session = requests.Session()
        i = n
        while time.monotonic() < stop:
            started = time.perf_counter()
            session.get(base + paths[i % len(paths)], headers={"Cookie": cookie}, timeout=30)
            latencies.append((time.perf_counter() - started) * 1000)
            i += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q = statistics.quantiles(latencies, n=100)
    return q[49], q[94], len(latencies) / DURATION


if __name__ == "__main__":
    sys.exit(main())
