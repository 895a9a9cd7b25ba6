"""`manage.py seed_demo`: load the deterministic demo dataset and write its planted ground truth."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from productops.portfolio.models import Product
from productops.signals.demo import seed_with_stats
from productops.signals.demo.world import PRODUCTS, extra_products
from productops.signals.services import record_write

# The seeder's tables (its stats keys) by signal family.
FAMILY_OF_TABLE = {
    "metrics": "metrics",
    "metric_points": "metrics",
    "nps_responses": "nps",
    "support_tickets": "tickets",
    "mentions": "mentions",
    "competitor_mentions": "mentions",
    "studies": "research",
    "kb_articles": "kb",
    "kb_searches": "kb",
    "portfolio_items": "portfolio",
    "portfolio_parents": "portfolio",
    "dependencies": "portfolio",
    "experiments": "experiments",
    "variants": "experiments",
    "experiment_results": "experiments",
    "feature_flags": "flags",
    "flag_changes": "flags",
}


class Command(BaseCommand):
    help = (
        "Seed 3 demo products, 6 teams and 18 months of signals ending 2026-11-22 (idempotent: a re-run "
        "changes nothing), and write the planted ground truth as JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7).")
        parser.add_argument(
            "--ground-truth",
            default=str(Path(settings.VAR_DIR) / "demo_ground_truth.json"),
            help="Where to write the ground truth JSON (default var/demo_ground_truth.json).",
        )
        parser.add_argument(
            "--scale",
            type=int,
            default=1,
            help="Volume multiplier for benchmarks (10 is about 5M metric points).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["scale"] < 1:
            raise CommandError(f"--scale must be 1 or more, got {options['scale']}.")
        started = time.monotonic()
        truth, stats = seed_with_stats(seed=options["seed"], scale=options["scale"])
        changed = {
            FAMILY_OF_TABLE[t] for t, r in stats.items() if (r.inserted or r.updated) and t in FAMILY_OF_TABLE
        }
        if changed:
            # Only what changed: a re-run that inserts and updates nothing asks for no recompute.
            record_write(
                "demo",
                changed,
                Product.objects.filter(
                    slug__in=[p.slug for p in (*PRODUCTS, *extra_products(options["scale"]))]
                ).values_list("pk", flat=True),
            )
        path = Path(options["ground_truth"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"Could not write the ground truth to {path}: {exc}. Pass --ground-truth."
            ) from exc
        for table, result in stats.items():
            counts = f"inserted={result.inserted} updated={result.updated} unchanged={result.unchanged}"
            self.stdout.write(f"  {table:<20} {counts}")
        self.stdout.write(
            self.style.SUCCESS(f"Demo data seeded in {time.monotonic() - started:.1f}s; ground truth: {path}")
        )
