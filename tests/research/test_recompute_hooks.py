"""A research write reaches the redundant-research and competitor hooks through the one recompute path
(`insights.recompute.request` then `run_pending`, what `record_write` queues after commit)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from insights import recompute
from insights.models import Insight, InsightKind
from productops.competitors.models import Competitor, CompetitorMention
from productops.research.models import Highlight, Study


@pytest.mark.django_db
def test_a_research_write_recomputes_overlaps_sentiment_and_mentions(research_world: dict[str, Any]) -> None:
    w = research_world
    Competitor.objects.create(name="Quillbooks", slug="quillbooks")
    a = Study.objects.create(
        external_id="a",
        title="Onboarding interviews",
        question="Why do new admins stall before inviting their team?",
        started_on=date(2026, 10, 12),
        product=w["ledger"],
        team=w["growth"],
        tags=["invites", "onboarding"],
    )
    Study.objects.create(
        external_id="b",
        title="Invite diary",
        question="What stops new admins from inviting their team?",
        started_on=date(2026, 11, 2),
        product=w["pulse"],
        team=w["mobile"],
        tags=["invites"],
    )
    Study.objects.create(
        external_id="c",
        title="Invite survey",
        question="Why do new admins stall before inviting their team?",
        started_on=date(2026, 7, 2),
        product=w["pulse"],
        team=w["mobile"],
        tags=["invites"],
    )  # same question, another quarter: not redundant
    hl = Highlight.objects.create(
        study=a,
        external_id="h",
        quote="We almost moved to Quillbooks, inviting people was so confusing",
        created_at=datetime(2026, 10, 13, tzinfo=UTC),
    )

    recompute.request({"research"}, [w["ledger"].pk])
    recompute.run_pending()

    pairs = Insight.objects.filter(kind=InsightKind.REDUNDANT_RESEARCH)
    assert [(i.payload["study_a"], i.payload["study_b"], i.payload["quarter"]) for i in pairs] == [
        ("Onboarding interviews", "Invite diary", "2026-Q4")
    ]
    hl.refresh_from_db()
    assert hl.sentiment is not None
    mention = CompetitorMention.objects.get()
    assert (mention.source, mention.object_id, mention.product_id) == ("research", hl.pk, w["ledger"].pk)
    assert mention.sentiment == hl.sentiment  # copied after the feedback hook scored it
