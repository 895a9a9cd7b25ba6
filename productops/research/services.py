"""Writes for research: the redundant-research insights, and a PM's edits."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from insights.kinds import RedundantResearchPayload
from insights.models import InsightKind, Severity
from insights.overlaps.research import StudyRow, find_redundant_research
from insights.services import retire_missing, upsert_insight

from .models import Study

log = logging.getLogger(__name__)


def quarter_end(day: date) -> date:
    first_of_next = date(day.year + (day.month > 9), (((day.month - 1) // 3 + 1) * 3) % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def study_rows() -> list[StudyRow]:
    return [
        StudyRow(
            study_id=s.pk,
            team_id=s.team_id,
            quarter=s.quarter,
            question=s.question,
            title=s.title,
            tags=[str(t) for t in (s.tags or [])],
        )
        for s in Study.objects.only(
            "pk", "team_id", "question", "title", "tags", "started_on", "first_seen_at"
        )
    ]


def recompute_redundant_research() -> list[str]:
    """One `redundant_research` insight per pair of teams' studies on the same question and quarter;
    pairs no longer found are resolved (a PM's acknowledge or mute survives, as for every insight)."""
    pairs = find_redundant_research(study_rows())
    studies = Study.objects.select_related("team", "product").in_bulk(
        [p.a for p in pairs] + [p.b for p in pairs]
    )
    keys = []
    for pair in pairs:
        a, b = studies.get(pair.a), studies.get(pair.b)
        if a is None or b is None:
            continue
        key = f"research:{a.pk}:{b.pk}"
        team_a, team_b = a.team.name if a.team else "", b.team.name if b.team else ""
        starts = max((d for d in (a.started_on, b.started_on) if d), default=a.first_seen_at.date())
        upsert_insight(
            InsightKind.REDUNDANT_RESEARCH,
            key,
            team_ids=[a.team_id, b.team_id],
            product_ids=[a.product_id, b.product_id],
            title=f"{team_a} and {team_b} are researching the same question in {pair.quarter}",
            summary=f"“{a.question}” ({a.title}) and “{b.question}” ({b.title}). "
            "Compare the two studies and share participants, notes or findings instead of running both.",
            severity=Severity.MEDIUM,
            score=pair.similarity,
            product_id=a.product_id,
            team_id=a.team_id,
            # In the digest from the later study's start to the end of their quarter.
            starts_at=datetime.combine(starts, time.min, tzinfo=UTC),
            ends_at=datetime.combine(quarter_end(starts), time.max, tzinfo=UTC),
            payload=RedundantResearchPayload(
                study_a_id=a.pk,
                study_b_id=b.pk,
                study_a=a.title,
                study_b=b.title,
                team_a=team_a,
                team_b=team_b,
                quarter=pair.quarter,
                similarity=pair.similarity,
                shared_terms=pair.shared_terms,
                shared_tags=pair.shared_tags,
            ),
        )
        keys.append(key)
    retire_missing(InsightKind.REDUNDANT_RESEARCH, keys)
    log.info("redundant research: %s pairs", len(keys))
    return keys
