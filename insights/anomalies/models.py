"""Per-metric anomaly settings a PM owns: mutes. (Sensitivity lives on Metric.sensitivity.)"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SeriesMute(models.Model):
    """Silence new anomalies of one metric (every dimension) or one derived series, for a while or forever.

    Recomputes still record the anomalies, already muted, so nothing is lost when the mute ends.
    """

    metric = models.ForeignKey(
        "signals.Metric", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # For derived series (tickets, NPS...): the series id prefix, e.g. "tickets:3:tag=billing".
    series_id = models.CharField(max_length=255, blank=True)
    until = models.DateTimeField(null=True, blank=True, help_text="Empty means forever.")
    comment = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["metric"]), models.Index(fields=["series_id"])]

    def __str__(self) -> str:
        target = f"metric {self.metric_id}" if self.metric_id else self.series_id
        return f"mute {target} until {self.until or 'forever'}"

    def active(self, at: object = None) -> bool:
        now = at or timezone.now()
        return self.until is None or self.until > now  # type: ignore[operator]
