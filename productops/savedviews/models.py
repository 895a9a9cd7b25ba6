"""Saved views: a page and its filters under a name, private or shared with a team.

A view stores the page's path and the query string the page read through the one `Filters` parser
(productops/dashboards/filters.py), so opening a view, or a link to it, lands on the same page with the
same filters. Subscribing adds the view's headline counts to the subscriber's weekly digest.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class SavedView(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=100)
    path = models.CharField(max_length=200, help_text="The page's path, e.g. /feedback/.")
    query = models.CharField(max_length=2000, blank=True, help_text="The page's filters, as a query string.")
    # Shared views are listed for every member of the team (and open for any PM or lead who has the link).
    team = models.ForeignKey(
        "portfolio.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="saved_views"
    )
    subscribers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="subscribed_views"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedviews_owner_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("savedviews:open", args=[self.pk])

    @property
    def is_shared(self) -> bool:
        return self.team_id is not None

    @property
    def target(self) -> str:
        """The page with its filters: where the view opens."""
        return f"{self.path}?{self.query}" if self.query else self.path
