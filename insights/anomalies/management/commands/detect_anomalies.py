from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from insights.anomalies.services import run_detection
from productops.signals.models import Metric


class Command(BaseCommand):
    help = "Score series for anomalies and write anomaly and incident insights (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="every metric and derived series (the default)"
        )
        parser.add_argument("--metric", type=int, action="append", help="only this metric id (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        metric_ids = options.get("metric")
        if metric_ids and options["all"]:
            raise CommandError("use either --all or --metric, not both")
        if metric_ids:
            missing = set(metric_ids) - set(
                Metric.objects.filter(pk__in=metric_ids).values_list("pk", flat=True)
            )
            if missing:
                raise CommandError(f"no metric with id {sorted(missing)}; see the metrics list in the admin")
            result = run_detection(metric_ids=metric_ids, include_derived=False)
        else:
            result = run_detection()
        self.stdout.write(
            f"scored {result.series} series: {result.events} events, "
            f"{result.anomalies_written} anomalies and {result.incidents_written} incidents written; "
            f"{len(result.not_enough_history)} series lack history"
        )
