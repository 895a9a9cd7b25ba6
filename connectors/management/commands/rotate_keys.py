"""Re-encrypt every connection's secrets (and two-factor and alert-rule secrets) with the first key in
FERNET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.models import Connection
from connectors.secrets import rotate
from productops.accounts.models import TwoFactor
from productops.alerts.models import AlertRule


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection's secrets with the first FERNET_KEYS key. Put the new key first, keep "
        "the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for connection in Connection.objects.select_for_update().exclude(secrets_encrypted=""):
                connection.secrets_encrypted = rotate(connection.secrets_encrypted)
                connection.save(update_fields=["secrets_encrypted"])
                count += 1
            factors = 0
            for row in TwoFactor.objects.select_for_update():
                row.secret_encrypted = rotate(row.secret_encrypted)
                row.save(update_fields=["secret_encrypted"])
                factors += 1
            rules = 0
            for rule in AlertRule.objects.select_for_update().exclude(secrets_encrypted=""):
                rule.secrets_encrypted = rotate(rule.secrets_encrypted)
                rule.save(update_fields=["secrets_encrypted"])
                rules += 1
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted the secrets of {count} connection(s), {factors} two-factor secret(s) and "
                f"{rules} alert rule(s) with the first key."
            )
        )
