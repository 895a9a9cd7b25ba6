from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from productops.accounts.roles import Role
from productops.accounts.services import set_role

CHOICES = {"lead": Role.LEAD, "pm": Role.PM, "none": None}


class Command(BaseCommand):
    help = (
        "Give an existing user a role: lead, pm or none (no access). Use it for the first lead of a new "
        "install, e.g. after `createsuperuser`; being a superuser gives /admin only, never a role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", choices=sorted(CHOICES))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(
                f"No user {options['username']!r}. Create one first (manage.py createsuperuser, or the admin)."
            ) from None
        role = CHOICES[options["role"]]
        set_role(user, role)
        self.stdout.write(f"{user.username} is now: {role.label if role else 'no access'}")
