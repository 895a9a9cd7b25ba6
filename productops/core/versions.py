"""Data versions: bump after writes, read to key caches."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from .models import DataVersion

GLOBAL = "global"


def bump(name: str = GLOBAL) -> None:
    updated = DataVersion.objects.filter(name=name).update(
        version=F("version") + 1, changed_at=timezone.now()
    )
    if not updated:
        DataVersion.objects.get_or_create(name=name, defaults={"version": 1, "changed_at": timezone.now()})


def current(name: str = GLOBAL) -> str:
    """A token that changes on every bump, and also when the database is recreated (cache keys stay unique)."""
    row = DataVersion.objects.filter(name=name).values_list("version", "changed_at").first()
    if row is None:
        return "0"
    return f"{row[0]}.{row[1].timestamp():.6f}"
