from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """One row per Celery worker host; the worker's main process touches it every few seconds.

    /healthz reads the newest row: the broker can be up while no worker consumes it, and only a
    heartbeat written by the worker itself tells the two apart.
    """

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.IntegerField(default=0)
    last_seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


class DataVersion(models.Model):
    """A counter that every sync and recompute bumps; caches key on it so pages are never stale."""

    name = models.CharField(max_length=64, unique=True)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
