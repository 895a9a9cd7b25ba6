from django.core.management.base import BaseCommand

from productops.accounts.roles import Role
from productops.accounts.services import create_user

DEMO_USERS = [
    ("lead", "lead@example.com", "productops-lead", Role.LEAD, "Europe/Berlin"),
    ("pm", "pm@example.com", "productops-pm", Role.PM, "America/New_York"),
]


class Command(BaseCommand):
    help = "Create the demo product-ops lead and PM (idempotent) and print their logins."

    def handle(self, *args: object, **options: object) -> None:
        for username, email, password, role, tz in DEMO_USERS:
            create_user(username, email, password, role, timezone=tz)
            self.stdout.write(f"  {role.label:<17} login: {username} / {password}")
        from productops.alerts.demo import create_demo_rules

        create_demo_rules()
