from __future__ import annotations

from typing import Any

from django.db.models import Max

from .models import Connection


def freshness() -> dict[str, Any]:
    """For the footer: when data last arrived, and how many enabled connections are failing."""
    agg = Connection.objects.aggregate(last=Max("last_success_at"))
    failing = Connection.objects.filter(error_streak__gt=0).count()
    return {"last_success_at": agg["last"], "failing": failing}
