"""Send the digests that are due now, or one user's / one week's on demand, through the same claim."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from productops.digests import selectors, services
from productops.digests.build import build_digest
from productops.digests.emails import render_parts
from productops.digests.schedule import parse_week


class Command(BaseCommand):
    help = "Send weekly digests that are due (or, with --user/--week, a given one). Never sends one twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would be sent; send nothing.")
        parser.add_argument("--user", metavar="EMAIL", help="Only this user (by e-mail address).")
        parser.add_argument("--week", metavar="YYYY-Www", help="This ISO week instead of what is due now.")

    def handle(self, *args: Any, **options: Any) -> None:
        week = options["week"]
        if week:
            try:
                parse_week(week)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        services.ensure_all_subscriptions()
        targets = self._targets(options["user"], week)
        if not targets:
            self.stdout.write("No digests are due.")
            return
        User = get_user_model()
        for user_id, target_week in targets:
            user = User.objects.select_related("profile").get(pk=user_id)
            if options["dry_run"]:
                digest = build_digest(user, target_week, with_charts=False)
                subject = render_parts(digest, user, inline=True)["subject"]
                quiet = " (quiet week)" if digest.is_quiet else ""
                self.stdout.write(f"would send {user.email} {target_week}{quiet}: {subject}")
                continue
            try:
                outcome = services.deliver_digest(user_id, target_week)
            except services.DeliveryFailed as exc:
                self.stderr.write(f"FAILED {user.email} {target_week}: {exc}")
                continue
            self.stdout.write(f"{outcome} {user.email} {target_week}")

    def _targets(self, email: str | None, week: str | None) -> list[tuple[int, str]]:
        if email:
            user = get_user_model().objects.filter(email__iexact=email).first()
            if user is None:
                raise CommandError(f"No user has the e-mail address {email}; check the Users page.")
            if week:
                return [(user.pk, week)]
            return [t for t in selectors.due_deliveries() if t[0] == user.pk] or [
                (user.pk, _current_week(user))
            ]
        if week:
            from productops.digests.models import Subscription

            ids = (
                Subscription.objects.filter(enabled=True)
                .exclude(user__email="")
                .values_list("user_id", flat=True)
            )
            return [(uid, week) for uid in ids]
        return selectors.due_deliveries()


def _current_week(user: Any) -> str:
    from django.utils import timezone

    from productops.digests.build import user_timezone
    from productops.digests.schedule import local_week

    return local_week(timezone.now(), user_timezone(user))
