from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.models import Connection
from connectors.tracker_hooks import TRACKER_KINDS, ensure_hook


class Command(BaseCommand):
    help = "Print (creating it once) the webhook URL to paste into Jira, GitHub, GitLab or Linear."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        connection = Connection.objects.filter(pk=options["connection_id"]).first()
        if connection is None or connection.kind not in TRACKER_KINDS:
            raise CommandError(f"No tracker connection (one of {', '.join(TRACKER_KINDS)}) has that id.")
        self.stdout.write(ensure_hook(connection))
