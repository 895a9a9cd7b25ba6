"""Competitors (the lead names them, with aliases and domains), the mentions of them found in
feedback, and battle-card notes.

A CompetitorMention points at the row it was found in by (source, object_id), the same pair the
feedback themes use, so a mention joins its row's themes and sentiment without a copy of the text.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from productops.core.fields import OpenChoiceField


class Competitor(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    aliases = models.JSONField(
        default=list, blank=True, help_text="Other names people use: product names, old names, nicknames."
    )
    domains = models.JSONField(default=list, blank=True, help_text="e.g. acme.io (subdomains match too).")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def terms(self) -> list[str]:
        """The name and every alias, without blanks or repeats (case-insensitively)."""
        seen: dict[str, str] = {}
        for term in [self.name, *(self.aliases or [])]:
            clean = " ".join(str(term).split())
            if clean and clean.lower() not in seen:
                seen[clean.lower()] = clean
        return list(seen.values())


class MentionSource(models.TextChoices):
    TICKET = "ticket", "Support ticket"
    NPS = "nps", "NPS comment"
    MENTION = "mention", "Social mention"
    RESEARCH = "research", "Research highlight"
    RESEARCH_NOTE = "research_note", "Research note"


class CompetitorMention(models.Model):
    competitor = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="mentions")
    source = OpenChoiceField(max_length=16, choices=MentionSource.choices)
    object_id = models.BigIntegerField()
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    ts = models.DateTimeField()
    matched = models.CharField(max_length=200, help_text="The words as written in the text.")
    snippet = models.TextField(blank=True, help_text="The sentence around the mention.")
    sentiment = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["competitor", "source", "object_id"], name="competitors_mention_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["competitor", "ts"]),
            models.Index(fields=["product", "ts"]),
            models.Index(fields=["source", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.competitor_id} in {self.source}:{self.object_id}"


class BattleCardNote(models.Model):
    """Competitive notes, battle-card style: free text with a date and an author."""

    competitor = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField()
    noted_on = models.DateField(default=timezone.localdate)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-noted_on", "-created_at"]

    def __str__(self) -> str:
        return self.text[:60]
