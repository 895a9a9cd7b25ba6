"""Dashboard speed: the overview, a product page and the explorer under 16 concurrent clients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/productops_bench python bench/dashboard.py

BENCH_CASE=feedback measures the Support and Feedback pages instead: it seeds (once, with the COPY
upsert) at least 1M support tickets and 200k feedback texts in themes, drives /support/ and /feedback/
(each also with ?range=30d) with 16 clients, and ends with:

    dashboard_feedback: tickets=N feedback_texts=M page_cache=on support_p95_ms=A feedback_p95_ms=B

Pages cache their pieces per data version (productops/ui/cache.py), so under a steady load most requests
are cache hits. BENCH_PAGE_CACHE=off serves with bench/settings_nocache.py (a cache that keeps nothing):
every request then rebuilds every piece from the rollups, the worst case (page_cache=off in the line).

Seeds `seed_demo --scale 11` (at least 5M metric points and 500k tickets) once into that database,
serves it with gunicorn (4 workers), and drives it for 30 s with wrk from a second process (Debian's
wrk; a Python client when wrk is missing). BENCH_BEFORE=<a checkout of older code> measures that code
first against the same database, in the same run, for a side-by-side comparison. Ends with one line per
code measured:

    dashboard: code=after rows=N p50_ms=A p95_ms=B rps=C queries_per_page=Q cpu_ms_per_req=W db_cpu_ms_per_req=D

cpu_ms_per_req is the gunicorn workers' CPU (user + system) over the run divided by the requests served,
db_cpu_ms_per_req the same for the PostgreSQL backends serving them: unlike latency on a shared machine,
neither depends on what else is running.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    if os.environ.get("BENCH_CASE") == "feedback":
        return feedback_case()
    from django.core.management import call_command
    from django.db import connection

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

    connection.close()
    roots = [("after", ROOT)]
    before = os.environ.get("BENCH_BEFORE")
    if before:  # a checkout of the older code, served against the same database in the same run
        roots.insert(0, ("before", Path(before).resolve()))
    results = {}
    for label, root in roots:
        queries = _count_queries(root, paths)
        results[label] = {**_load(root, paths), "queries": max(queries)}
        print(f"{label}: pages {paths}; queries per page {queries}", flush=True)
    for label, r in results.items():
        print(
            f"dashboard: code={label} rows={rows} p50_ms={r['p50']:.1f} p95_ms={r['p95']:.1f} "
            f"rps={r['rps']:.1f} queries_per_page={r['queries']} cpu_ms_per_req={r['cpu_ms']:.2f} "
            f"db_cpu_ms_per_req={r['db_cpu_ms']:.2f}"
        )
    return 0


COUNT_QUERIES = """
import json, os, sys
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")
import django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.contrib.auth import get_user_model
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(get_user_model().objects.get(username="bench"))
out = []
for path in json.loads(sys.argv[1]):
    client.get(path)  # warm
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200, path
    out.append(len(ctx.captured_queries))
print(json.dumps(out))
"""


def _count_queries(root: Path, paths: list[str]) -> list[int]:
    """Queries per warm page, counted by the code in `root` (a subprocess, so either checkout works)."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", COUNT_QUERIES, json.dumps(paths)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DEBUG": "false"},
    ).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), whatever else runs on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _workers(master: int) -> list[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _db_backends() -> list[int]:
    """The PostgreSQL backends serving this database (the gunicorn workers' persistent connections)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [int(r[0]) for r in cursor.fetchall()]
    connection.close()
    return pids


def _load(root: Path, paths: list[str]) -> dict[str, float]:
    """Serve `root`'s code with gunicorn, warm it, drive it with 16 clients; latency, throughput and the
    CPU each request cost in the web workers and in PostgreSQL."""
    server = _serve(root)
    try:
        base = f"http://127.0.0.1:{PORT}"
        cookie = _login_cookie(base)
        for path in paths:  # warm every worker's caches and connections
            for _ in range(8):
                assert _get(base + path, cookie) == 200, path
        workers, backends = _workers(server.pid), _db_backends()
        web0, db0 = _cpu_seconds(workers), _cpu_seconds(backends)
        if shutil.which("wrk"):
            p50, p95, rps = _wrk(base, paths, cookie)
        else:
            p50, p95, rps = _python_load(base, paths, cookie)
        web, db = _cpu_seconds(workers) - web0, _cpu_seconds(backends) - db0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    requests = max(rps * DURATION, 1)
    return {
        "p50": p50,
        "p95": p95,
        "rps": rps,
        "cpu_ms": web * 1000 / requests,
        "db_cpu_ms": db * 1000 / requests,
    }


FEEDBACK_TICKETS = int(os.environ.get("BENCH_TICKETS", "1000000"))
FEEDBACK_TEXTS = int(os.environ.get("BENCH_FEEDBACK_TEXTS", "200000"))
TAGS = ["billing", "login", "export", "sso", "performance", "mobile", "api", "refund", "onboarding", "bug"]
CHANNELS = ["email", "chat", "web", "phone"]
WORDS = ["export", "slow", "login", "invoice", "crash", "sso", "dark", "mode", "refund", "sync", "api", "csv"]


def _bench_tickets(products: list[Any], n: int) -> Iterator[dict[str, Any]]:
    """n tickets over the last two years, spread over products, channels and tags, with response and
    resolution times, CSAT and sentiment; about 5 % still open."""
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(11)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for i in range(n):
        opened = now - timedelta(minutes=rng.randrange(730 * 24 * 60))
        frt = opened + timedelta(minutes=rng.expovariate(1 / 240))
        solved = None if rng.random() < 0.05 else frt + timedelta(minutes=rng.expovariate(1 / 2000))
        words = " ".join(rng.choice(WORDS) for _ in range(6))
        yield {
            "source_key": "bench",
            "external_id": f"b{i}",
            "product_id": products[i % len(products)].pk,
            "subject": f"Ticket {i}: {words}",
            "body_text": words,
            "status": "open" if solved is None else "solved",
            "tags": rng.sample(TAGS, rng.randrange(0, 3)),
            "channel": CHANNELS[i % len(CHANNELS)],
            "opened_at": opened,
            "first_response_at": frt,
            "solved_at": solved,
            "csat_rating": rng.randrange(1, 6) if rng.random() < 0.3 else None,
            "sentiment": round(rng.uniform(-1, 1), 3),
        }


def feedback_case() -> int:
    from django.core.management import call_command
    from django.db import connection

    from insights.feedback.models import Theme, ThemeMember, ThemeWeekly
    from insights.feedback.services import refresh_theme_stats
    from productops.accounts.roles import Role
    from productops.accounts.services import create_user
    from productops.dashboards import rollups
    from productops.dashboards.models import TicketRollup
    from productops.portfolio.models import Product, Team
    from productops.signals.ingest import upsert
    from productops.signals.models import SupportTicket

    call_command("migrate", verbosity=0)
    products = [
        Product.objects.get_or_create(slug=f"bench-{k}", defaults={"name": f"Bench {k}"})[0] for k in range(5)
    ]
    team, _ = Team.objects.get_or_create(slug="bench-team", defaults={"name": "Bench team"})
    team.products.add(*products[:2])
    tickets = SupportTicket.objects.count()
    seeded = tickets < FEEDBACK_TICKETS or ThemeMember.objects.count() < FEEDBACK_TEXTS
    if tickets < FEEDBACK_TICKETS:
        started = time.monotonic()
        print(f"seeding {FEEDBACK_TICKETS:,} tickets with the COPY upsert (once)...", flush=True)
        upsert(SupportTicket, _bench_tickets(products, FEEDBACK_TICKETS))
        print(f"seeded in {time.monotonic() - started:.0f}s", flush=True)
    if ThemeMember.objects.exists() and not ThemeWeekly.objects.exists():  # planted before the rollup
        refresh_theme_stats(list(Theme.objects.values_list("pk", flat=True)))
    if ThemeMember.objects.count() < FEEDBACK_TEXTS:
        # Feedback texts in themes, planted directly (clustering 200k texts is not what this measures):
        # every ticket with an id divisible by a step joins one of 8 themes of its product.
        started = time.monotonic()
        ThemeMember.objects.all().delete()
        themes = {
            p.pk: [
                Theme.objects.create(product=p, label=f"{WORDS[k]} / {WORDS[k + 1]}", size=0)
                for k in range(8)
            ]
            for p in products
        }
        total = SupportTicket.objects.count()
        step = max(1, total // (FEEDBACK_TEXTS + FEEDBACK_TEXTS // 10))
        with connection.cursor() as cursor:
            for pid, group in themes.items():
                ids = [t.pk for t in group]
                cursor.execute(
                    f"""
                    INSERT INTO feedback_thememember
                        (theme_id, source, object_id, product_id, ts, weight, sentiment, quote, segment, pinned)
                    SELECT (ARRAY{ids})[1 + (t.id / {step}) %% {len(ids)}], 'ticket', t.id, t.product_id,
                           t.opened_at, 1.0, t.sentiment, t.subject, '{{}}'::jsonb, false
                    FROM signals_supportticket t
                    WHERE t.product_id = %s AND t.id %% {step} = 0
                    ON CONFLICT DO NOTHING
                    """,
                    [pid],
                )
        # The write path ends every member change with the themes' stats and weekly rollup.
        refresh_theme_stats(list(Theme.objects.values_list("pk", flat=True)))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"planted theme members in {time.monotonic() - started:.0f}s", flush=True)
    if seeded or not TicketRollup.objects.exists():
        started = time.monotonic()
        rollups.refresh_all()
        print(f"rollups refreshed in {time.monotonic() - started:.0f}s", flush=True)
    tickets, texts = SupportTicket.objects.count(), ThemeMember.objects.count()
    print(f"rows: {tickets:,} tickets, {texts:,} feedback texts in themes", flush=True)
    create_user("bench", "bench@example.com", "bench-password-123", Role.PM)
    connection.close()

    server = _serve()
    try:
        base = f"http://127.0.0.1:{PORT}"
        cookie = _login_cookie(base)
        results = {}
        for name, paths in (
            ("support", ["/support/", "/support/?range=30d", f"/support/?team={team.slug}&range=90d"]),
            ("feedback", ["/feedback/", "/feedback/?range=30d", f"/feedback/?team={team.slug}&range=90d"]),
        ):
            for path in paths:
                for _ in range(4):
                    assert _get(base + path, cookie) == 200, path
            if shutil.which("wrk"):
                results[name] = _wrk(base, paths, cookie)
            else:
                results[name] = _python_load(base, paths, cookie)
            print(f"{name}: {paths} p50_ms={results[name][0]:.1f} p95_ms={results[name][1]:.1f}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    print(
        f"dashboard_feedback: tickets={tickets} feedback_texts={texts} "
        f"page_cache={os.environ.get('BENCH_PAGE_CACHE', 'on')} "
        f"support_p95_ms={results['support'][1]:.1f} feedback_p95_ms={results['feedback'][1]:.1f}"
    )
    return 0


def _serve(root: Path = ROOT) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PRODUCTOPS_ENV": "dev", "DEBUG": "false"}
    if os.environ.get("BENCH_PAGE_CACHE") == "off":  # every request rebuilds every page piece
        env["DJANGO_SETTINGS_MODULE"] = "settings_nocache"
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "bench")])
    return subprocess.Popen(
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
        cwd=root,
        env=env,
        start_new_session=True,
    )


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
