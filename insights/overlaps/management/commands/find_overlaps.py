from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from insights.overlaps.services import compute_overlaps


class Command(BaseCommand):
    help = "Find cross-team overlaps: duplicates, related work, conflicts and hidden dependencies."

    def handle(self, *args: Any, **options: Any) -> None:
        run = compute_overlaps()
        self.stdout.write(
            f"overlaps: {run.items} items, {run.pairs} pairs found, {run.reopened} dismissed pairs re-opened"
        )
