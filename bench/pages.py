"""Server time of every page a PM reaches from the nav, warm, on the demo data (SQLite by default).

    python manage.py seed_demo && python manage.py recompute_insights   # once
    python bench/pages.py

Each page is fetched once to warm, then BENCH_REPEAT times (default 5) with the page cache cleared
before each fetch, so the figure is the work a changed data version costs (not a cache hit). Beside the
wall time it reports the CPU time the request took in this process (with SQLite the queries run here too),
which a busy neighbour on a shared machine does not inflate. Ends with:

    pages: n=N worst=<path> worst_ms=A median_of_medians_ms=B over_300ms=K non_200=E cpu_worst_ms=C cpu_median_of_medians_ms=D
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
GOAL_MS = 300


def main() -> int:
    import django

    django.setup()
    from django.core.cache import cache
    from django.test import Client

    from insights.feedback.models import Theme
    from insights.models import Insight
    from productops.accounts.roles import Role
    from productops.accounts.services import create_user
    from productops.portfolio.models import Product
    from productops.signals.models import Experiment, Metric

    product = Product.objects.order_by("pk").first()
    if product is None:
        print("bench/pages.py needs the demo data: python manage.py seed_demo && recompute_insights")
        return 2
    paths = [
        "/",
        f"/products/{product.slug}/",
        "/explore/",
        "/feedback/",
        "/nps/",
        "/support/",
        "/experiments/",
        "/portfolio/",
        "/insights/",
        "/digests/preview/",
    ]
    metric = Metric.objects.order_by("pk").first()
    if metric:
        paths.append(f"/explore/?metric={metric.pk}&granularity=week")
    if theme := Theme.objects.filter(status="active").order_by("pk").first():
        paths.append(f"/feedback/themes/{theme.pk}/")
    if experiment := Experiment.objects.order_by("pk").first():
        paths.append(f"/experiments/{experiment.pk}/")
    if anomaly := Insight.objects.filter(kind="anomaly").order_by("-severity", "pk").first():
        paths.append(f"/insights/{anomaly.pk}/")
    paths += ["/rows/tickets/?range=all", f"/support/?product={product.slug}", "/feedback/?range=30d"]
    # The rest of the nav a PM reaches (the strategy menu, alerts, connectors, saved views, settings).
    from django.urls import NoReverseMatch, reverse

    for name in (
        "goals:index",
        "delivery:opportunities",
        "delivery:health",
        "research:index",
        "competitors:index",
        "alerts:list",
        "connectors:list",
        "savedviews:list",
        "accounts:settings",
    ):
        try:
            paths.append(reverse(name))
        except NoReverseMatch:  # an app not installed in this build
            continue

    user = create_user("bench-pages", "bench-pages@example.com", "bench-password-123", Role.PM)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    results = []
    for path in paths:
        status = client.get(path).status_code
        times, cpu = [], []
        for _ in range(REPEAT):
            cache.clear()
            started, cpu_started = time.perf_counter(), time.process_time()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        median = statistics.median(times)
        results.append((path, status, median, statistics.median(cpu)))
        print(f"{median:8.1f} ms  cpu {statistics.median(cpu):8.1f} ms  {status}  {path}", flush=True)
    worst = max(results, key=lambda r: r[2])
    print(
        f"pages: n={len(results)} worst={worst[0]} worst_ms={worst[2]:.0f} "
        f"median_of_medians_ms={statistics.median(r[2] for r in results):.0f} "
        f"over_{GOAL_MS}ms={sum(1 for r in results if r[2] >= GOAL_MS)} "
        f"non_200={sum(1 for r in results if r[1] != 200)} "
        f"cpu_worst_ms={max(r[3] for r in results):.0f} "
        f"cpu_median_of_medians_ms={statistics.median(r[3] for r in results):.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
