"""The user research repository: studies, their notes, and the highlights (quotes) taken from them.

A Study is a source row like any signal (`source_key`, `external_id`): a Dovetail project, a row of a
CSV import, a Markdown file, or one typed in by hand. Notes and highlights belong to their study and
are keyed inside it, so a re-import or a re-sync updates them in place.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.utils import timezone

from productops.signals.models import SourcedModel


class Method(models.TextChoices):
    INTERVIEWS = "interviews", "Interviews"
    USABILITY = "usability", "Usability test"
    SURVEY = "survey", "Survey"
    DIARY = "diary", "Diary study"
    FIELD = "field", "Field study"
    CARD_SORT = "card_sort", "Card sort"
    CONCEPT = "concept", "Concept test"
    OTHER = "other", "Other"


def quarter_of(day: date | None) -> str:
    """ "2026-Q3" for a day; "" without one."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}" if day else ""


class Study(SourcedModel):
    title = models.CharField(max_length=300)
    question = models.TextField(blank=True, help_text="The research question the study answers.")
    method = models.CharField(max_length=32, choices=Method.choices, default=Method.OTHER)
    started_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)
    participants = models.PositiveIntegerField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_name = models.CharField(max_length=200, blank=True, help_text="As the source names the owner.")
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey("portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL)
    tags = models.JSONField(default=list, blank=True)
    url = models.URLField(max_length=1000, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "started_on"])]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.title

    @property
    def quarter(self) -> str:
        return quarter_of(self.started_on or (self.first_seen_at.date() if self.first_seen_at else None))

    @property
    def owner_label(self) -> str:
        if self.owner_id and self.owner:
            return self.owner.get_full_name() or self.owner.get_username()
        return self.owner_name


class StudyNote(models.Model):
    """A session's notes (an interview, a test): free text."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="notes")
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    segment = models.CharField(max_length=200, blank=True, help_text="The participant's segment or plan.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "external_id"], name="research_note_uniq")]

    def __str__(self) -> str:
        return self.title or self.text[:60]


class Highlight(models.Model):
    """A quote worth keeping, with who said it (their segment) and tags. It joins the feedback
    pipeline as source "research": it gets a sentiment and falls into themes beside tickets and NPS."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="highlights")
    external_id = models.CharField(max_length=255)
    note_ref = models.CharField(max_length=255, blank=True, help_text="The note it was taken from.")
    quote = models.TextField()
    segment = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sentiment = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="research_highlight_uniq")
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return self.quote[:60]
