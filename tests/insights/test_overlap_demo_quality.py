"""Precision and recall on the demo dataset's planted overlaps, at the default threshold."""

from __future__ import annotations

from typing import Any

import pytest

from insights.overlaps.models import OverlapPair
from insights.overlaps.services import compute_overlaps
from productops.portfolio.models import PortfolioItem
from productops.signals.demo import seed
from productops.signals.models import Experiment

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_truth(db: Any) -> dict[str, Any]:
    return seed(only={"portfolio", "experiments"})


def test_planted_overlaps_precision_and_recall(demo_truth: dict[str, Any]) -> None:
    run = compute_overlaps()
    assert run.items > 100  # the planted pairs sit among ordinary items
    key_of = {f"item:{pk}": ext for pk, ext in PortfolioItem.objects.values_list("pk", "external_id")}
    key_of |= {f"experiment:{pk}": key for pk, key in Experiment.objects.values_list("pk", "key")}
    reported = {}
    for pair in OverlapPair.objects.filter(active=True):
        if pair.a_ref in key_of and pair.b_ref in key_of:
            reported[frozenset((key_of[pair.a_ref], key_of[pair.b_ref]))] = (pair.kind, pair.explanation)
    truth = {frozenset((o["a"], o["b"])): o["kind"] for o in demo_truth["overlaps"]}
    # The planted experiment collision: two teams' experiments on one surface at the same time.
    truth[frozenset(demo_truth["experiments"]["collision"])] = "conflict"
    hits = set(reported) & set(truth)
    precision = len(hits) / len(reported) if reported else 0.0
    recall = len(hits) / len(truth)
    report = {
        "false_positives": {tuple(sorted(p)): reported[p] for p in set(reported) - set(truth)},
        "missed": [tuple(sorted(p)) for p in set(truth) - set(reported)],
    }
    print(f"demo overlaps: precision={precision:.3f} recall={recall:.3f}")
    assert precision >= 0.9, report
    assert recall >= 0.9, report
    # Rule-based kinds (conflict, hidden dependency) must be exact. Duplicate vs related is a similarity
    # cut-off and the demo's planted duplicates are paraphrases; measured 6 of 7 kinds right, asserted >= 0.8.
    kinds = {tuple(sorted(p)): (reported[p][0], truth[p]) for p in hits}
    for p in hits:
        if truth[p] in ("conflict", "hidden_dependency"):
            assert reported[p][0] == truth[p], kinds
    assert sum(1 for got, want in kinds.values() if got == want) / len(truth) >= 0.8, kinds
