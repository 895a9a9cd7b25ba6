"""Daily rollups: what the pages read instead of raw rows.

They are derived data, rebuilt for the affected metrics and days after each sync
(productops.dashboards.rollups.refresh) and nightly in full.
"""

from __future__ import annotations

from django.db import models


class MetricDaily(models.Model):
    """One metric, one dimension value (or the total: "", ""), one UTC day."""

    metric = models.ForeignKey("signals.Metric", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    dimension_key = models.CharField(max_length=64, default="", blank=True)
    dimension_value = models.CharField(max_length=128, default="", blank=True)
    day = models.DateField()
    value = models.FloatField(help_text="Aggregated with the metric's own aggregation.")
    points = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "dimension_key", "dimension_value", "day"],
                name="dashboards_metricdaily_uniq",
            )
        ]
        indexes = [models.Index(fields=["product", "day"])]

    def __str__(self) -> str:
        return f"{self.metric_id} {self.day} {self.dimension_key}={self.dimension_value}: {self.value}"


class TicketDaily(models.Model):
    """Tickets opened per product, tag ("" for all tags) and UTC day."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    tag = models.CharField(max_length=200, default="", blank=True)
    day = models.DateField()
    opened = models.IntegerField(default=0)
    solved = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "tag", "day"], name="dashboards_ticketdaily_uniq")
        ]
        indexes = [models.Index(fields=["tag", "day"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.tag or '*'} {self.day}: {self.opened}"
