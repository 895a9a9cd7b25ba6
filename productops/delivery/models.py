"""Delivery history the trackers do not keep for us, and the PM's edits to opportunity scores.

`TargetDateChange` is the target-date history of a portfolio item: the first row is its baseline (the
first target productops saw), each later row a move. A slip is the current target minus the baseline.
`OpportunityFactors` holds a PM's override of RICE factors for one item or one unlinked theme; a factor
left empty uses the computed value, so the evidence keeps flowing in while a PM's judgement stays.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TargetDateChange(models.Model):
    item = models.ForeignKey(
        "portfolio.PortfolioItem", on_delete=models.CASCADE, related_name="target_changes"
    )
    from_date = models.DateField(null=True, blank=True, help_text="Empty on the baseline row.")
    to_date = models.DateField(null=True, blank=True, help_text="Empty when the target was removed.")
    changed_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, default="sync", help_text="sync, demo or manual")

    class Meta:
        ordering = ["item_id", "changed_at", "pk"]
        indexes = [models.Index(fields=["item", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.from_date} -> {self.to_date}"


class OpportunityFactors(models.Model):
    """A PM's values for the RICE factors of one opportunity (a portfolio item or an unlinked theme)."""

    product = models.ForeignKey("portfolio.Product", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(
        "portfolio.PortfolioItem", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    theme = models.ForeignKey(
        "feedback.Theme", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reach = models.FloatField(null=True, blank=True)
    impact = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True, help_text="0 to 1")
    effort = models.FloatField(null=True, blank=True, help_text="Story points")
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(item__isnull=False), name="delivery_factors_item_uniq"
            ),
            models.UniqueConstraint(
                fields=["theme"], condition=models.Q(theme__isnull=False), name="delivery_factors_theme_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(item__isnull=False, theme__isnull=True)
                | models.Q(item__isnull=True, theme__isnull=False),
                name="delivery_factors_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"factors of {'item ' + str(self.item_id) if self.item_id else 'theme ' + str(self.theme_id)}"
