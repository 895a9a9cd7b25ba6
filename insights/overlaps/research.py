"""Redundant research: two teams studying the same question in the same quarter.

ORM-free, like the rest of the overlap engine: `find_redundant_research(studies)` takes one row per
study and returns the pairs. Similarity is the engine's weighted TF-IDF (`vectorize_fields`): the
question and title as text (word and character n-grams, so "onboarding" meets "onboard"), and the
tags as whole tokens. A pair counts when the two studies belong to different teams, start in the same
quarter, and score at least `MIN_SIMILARITY`, the cosine at which two questions read as one question
asked twice rather than two questions about one area (calibrated on the demo's studies: the two
onboarding-invite studies score ~0.38; two studies about billing export asking different questions
score ~0.26; unrelated ones stay under 0.05).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .similarity import vectorize_fields

MIN_SIMILARITY = 0.32
WEIGHTS = {"text": 0.75, "tags": 0.25}
_WORD = re.compile(r"[a-z][a-z0-9'-]{2,}")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "why",
        "how",
        "what",
        "when",
        "who",
        "does",
        "did",
        "our",
        "their",
        "they",
        "them",
        "this",
        "that",
        "from",
        "into",
        "about",
        "are",
        "was",
        "were",
        "can",
        "could",
        "would",
        "should",
        "has",
        "have",
        "had",
        "not",
        "but",
        "its",
        "it's",
        "you",
        "your",
        "new",
        "use",
        "using",
    ]
)


@dataclass(frozen=True)
class StudyRow:
    study_id: int
    team_id: int | None
    quarter: str  # "2026-Q3"
    question: str
    title: str = ""
    tags: Sequence[str] = ()


@dataclass
class RedundantPair:
    a: int
    b: int
    quarter: str
    similarity: float
    shared_terms: list[str] = field(default_factory=list)
    shared_tags: list[str] = field(default_factory=list)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def find_redundant_research(
    studies: Sequence[StudyRow], *, min_similarity: float = MIN_SIMILARITY
) -> list[RedundantPair]:
    """Pairs of studies by different teams, in the same quarter, asking the same question."""
    rows = [s for s in studies if s.team_id is not None and s.quarter and (s.question or s.title)]
    if len(rows) < 2:
        return []
    matrix = vectorize_fields(
        {
            "text": [f"{s.question} {s.title}".strip() for s in rows],
            "tags": [[t.lower() for t in s.tags] for s in rows],
        },
        WEIGHTS,
    )
    sims = (matrix @ matrix.T).toarray()
    quarters = np.array([s.quarter for s in rows])
    teams = np.array([s.team_id for s in rows])
    candidates = (quarters[:, None] == quarters[None, :]) & (teams[:, None] != teams[None, :])
    candidates &= np.triu(np.ones_like(candidates, dtype=bool), k=1)
    candidates &= sims >= min_similarity
    out = []
    for i, j in zip(*np.nonzero(candidates), strict=True):
        a, b = rows[int(i)], rows[int(j)]
        if a.study_id > b.study_id:
            a, b = b, a
        out.append(
            RedundantPair(
                a=a.study_id,
                b=b.study_id,
                quarter=a.quarter,
                similarity=round(float(sims[i, j]), 3),
                shared_terms=sorted(_words(f"{a.question} {a.title}") & _words(f"{b.question} {b.title}"))[
                    :8
                ],
                shared_tags=sorted({t.lower() for t in a.tags} & {t.lower() for t in b.tags}),
            )
        )
    out.sort(key=lambda p: -p.similarity)
    return out
