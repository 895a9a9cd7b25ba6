"""Render one user's digest to a standalone HTML file (images embedded), e.g. for docs/digest-example.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from productops.digests.build import build_digest
from productops.digests.emails import render_parts
from productops.digests.schedule import parse_week


class Command(BaseCommand):
    help = "Write a user's digest as standalone HTML (charts as data: URIs) and print its subject."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="EMAIL", required=True)
        parser.add_argument("--week", metavar="YYYY-Www", help="Default: the current week in their timezone.")
        parser.add_argument("--out", required=True, help="The HTML file to write.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["week"]:
            try:
                parse_week(options["week"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        user = get_user_model().objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user has the e-mail address {options['user']}.")
        digest = build_digest(user, options["week"])
        parts = render_parts(digest, user, inline=False)
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(parts["html"], encoding="utf-8")
        self.stdout.write(f"{out}: {parts['subject']} ({digest.item_count} items)")
