"""Run the feedback and experiment recomputes now (what the post-sync hooks and the nightly run do)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from insights.feedback.experiments import recompute_experiment_insights
from insights.feedback.nps import recompute_nps_insights
from insights.feedback.services import recompute_feedback
from productops.portfolio.models import Product


class Command(BaseCommand):
    help = (
        "Score sentiment, rebuild feedback themes and links, and refresh NPS-shift and experiment insights."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", action="append", default=[], help="Product slug (repeatable).")
        parser.add_argument("--rescore", action="store_true", help="Re-score sentiment of every row.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = None
        if options["product"]:
            ids = list(Product.objects.filter(slug__in=options["product"]).values_list("pk", flat=True))
            if len(ids) != len(set(options["product"])):
                known = sorted(Product.objects.values_list("slug", flat=True))
                raise SystemExit(f"Unknown product in {options['product']}; known slugs: {known}")
        start = time.perf_counter()
        result = recompute_feedback(product_ids=ids, full=options["rescore"])
        nps_keys = recompute_nps_insights(product_ids=ids)
        experiment_keys = recompute_experiment_insights()
        self.stdout.write(
            f"feedback: {result['scored']} rows scored, {result['themes']} themes, {result['links']} links, "
            f"{result['insights']} theme insights; {len(nps_keys)} NPS shifts; "
            f"{len(experiment_keys)} experiment insights in {time.perf_counter() - start:.1f}s"
        )
