from __future__ import annotations

from django.db import models
from django.utils import timezone

from productops.signals.models import SourcedModel


class Product(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    products = models.ManyToManyField(Product, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ItemKind(models.TextChoices):
    INITIATIVE = "initiative", "Initiative"
    EPIC = "epic", "Epic"
    STORY = "story", "Story"


class StatusCategory(models.TextChoices):
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"

    @property
    def colour(self) -> str:
        return {"todo": "#6b7280", "in_progress": "#2563eb", "done": "#059669"}[self.value]


class PortfolioItem(SourcedModel):
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.STORY)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    status = models.CharField(max_length=100, blank=True, help_text="The tracker's own status name.")
    status_category = models.CharField(
        max_length=16, choices=StatusCategory.choices, default=StatusCategory.TODO
    )
    labels = models.JSONField(default=list, blank=True)
    components = models.JSONField(default=list, blank=True)
    start_date = models.DateField(null=True, blank=True)
    target_date = models.DateField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    url = models.URLField(max_length=1000, blank=True)
    assignee = models.CharField(max_length=200, blank=True)
    tracker = models.CharField(max_length=32, blank=True, help_text="jira, github, gitlab, linear, ...")
    updated_at_source = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(
        null=True, blank=True, help_text="When it moved to done, for 'what shipped'."
    )
    # When work started (the tracker's own field where it has one, else when productops first saw the
    # item in progress): the start of its cycle time.
    started_at = models.DateTimeField(null=True, blank=True)
    # When the item was created in the tracker (backlog age); first_seen_at stands in when a tool lacks it.
    created_at_source = models.DateTimeField(null=True, blank=True)
    # The tracker's estimate: story points (Jira's configured field, Linear's estimate, GitLab's weight)
    # and/or a t-shirt size (from a "size: M" label). Effort in the Opportunities view reads these.
    estimate_points = models.FloatField(null=True, blank=True)
    estimate_size = models.CharField(max_length=8, blank=True, help_text="XS, S, M, L, XL, XXL")
    # Deleted or moved out of scope at the source; kept for history, hidden from current views.
    is_gone = models.BooleanField(default=False)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [
            models.Index(fields=["team", "status_category"]),
            models.Index(fields=["product", "status_category"]),
            models.Index(fields=["done_at"]),
        ]

    def __str__(self) -> str:
        return self.title


# A t-shirt size in story points, so sized and pointed items add up (the usual Fibonacci-like mapping).
SIZE_POINTS: dict[str, float] = {"XS": 1.0, "S": 2.0, "M": 3.0, "L": 5.0, "XL": 8.0, "XXL": 13.0}


def effort_points(points: float | None, size: str) -> float | None:
    """An item's own estimate in points: its story points, else its t-shirt size mapped, else None."""
    if points is not None:
        return float(points)
    return SIZE_POINTS.get((size or "").upper())


class DependencyKind(models.TextChoices):
    BLOCKS = "blocks", "Blocks"
    RELATES = "relates", "Relates to"


class Dependency(models.Model):
    """`from_item` blocks (or relates to) `to_item`; may cross teams and trackers."""

    from_item = models.ForeignKey(PortfolioItem, on_delete=models.CASCADE, related_name="dependencies_out")
    to_item = models.ForeignKey(PortfolioItem, on_delete=models.CASCADE, related_name="dependencies_in")
    kind = models.CharField(max_length=16, choices=DependencyKind.choices, default=DependencyKind.BLOCKS)
    source_key = models.CharField(max_length=64, default="manual")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_item", "to_item", "kind"], name="portfolio_dependency_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.from_item} {self.kind} {self.to_item}"
