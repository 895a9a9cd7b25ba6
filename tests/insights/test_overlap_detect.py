"""find_overlaps and nearest on small synthetic portfolios (pure: no database)."""

from __future__ import annotations

from datetime import date

import numpy as np

from insights.overlaps import Kind, find_overlaps, match, nearest
from insights.overlaps.similarity import top_k_arrays, vectorize

from .overlap_fixtures import EXPECTED, plain_items


def _pairs(overlaps: list) -> dict[frozenset[str], str]:
    return {frozenset((o.a, o.b)): o.kind for o in overlaps}


def test_nearest_finds_paraphrases_and_scores_in_unit_range() -> None:
    texts = [
        "Billing export fails for large CSV files",
        "CSV billing export is broken when the file is big",
        "Dark mode for the mobile app",
        "Mobile app should follow the dark theme",
        "Rotate database credentials",
    ]
    result = nearest(texts, 2)
    assert result[0][0][0] == 1 and result[1][0][0] == 0
    assert result[2][0][0] == 3 and result[3][0][0] == 2
    assert all(0.0 <= s <= 1.0 for row in result for _, s in row)
    assert all(i not in {j for j, _ in row} for i, row in enumerate(result))  # never its own neighbour
    assert nearest(["only one"], 3) == [[]]


def test_nearest_tolerates_inflections_through_character_ngrams() -> None:
    texts = ["exporting invoices", "invoice exports", "user avatars"]
    (best, score), *_ = nearest(texts, 1)[0]
    assert best == 1 and score > 0.2


def test_sparse_search_matches_dense_bruteforce_on_large_corpus() -> None:
    # Large enough (>= PRUNE_MIN_DOCS) to take the candidate path: compare with an exact dense search.
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(words, size=12, p=None)) for _ in range(2500)]
    matrix = vectorize(texts)
    idx, scores = top_k_arrays(matrix, matrix, 5, exclude_self=True)
    dense = (matrix @ matrix.T).toarray()
    np.fill_diagonal(dense, -1)
    truth = np.argsort(-dense, axis=1)[:, :5]
    recall = np.mean([len(set(idx[i]) & set(truth[i])) / 5 for i in range(len(texts))])
    assert recall >= 0.95
    # Candidates are rescored exactly: every reported score is the true cosine.
    assert np.allclose(scores, np.take_along_axis(dense, idx, axis=1), atol=1e-4)


def test_match_links_queries_to_corpus() -> None:
    hits = match(
        ["billing export fails"], ["Export of billing data fails", "dark mode please", ""], k=3, min_score=0.1
    )
    assert [j for j, _ in hits[0]] == [0]


def test_planted_overlaps_found_and_classified() -> None:
    found = _pairs(find_overlaps(plain_items()))
    for exp in EXPECTED:
        assert found.get(frozenset((exp["a"], exp["b"]))) == exp["kind"], exp


def test_pairs_within_one_team_are_never_reported() -> None:
    items = plain_items()
    teams = {it["ref"]: it["team"] for it in items}
    overlaps = find_overlaps(items, threshold=0.0)  # even at the lowest threshold
    assert overlaps
    assert all(teams[o.a] != teams[o.b] for o in overlaps)
    # The near-identical checkout items of one team are not a pair.
    assert frozenset(("PAY-2", "PAY-3")) not in _pairs(overlaps)


def test_experiment_collision_on_same_metric_is_a_conflict() -> None:
    items = [
        {
            "ref": "e1",
            "team": "a",
            "title": "Blue button",
            "kind": "experiment",
            "surface": "home",
            "metric": "signup_rate",
            "start": date(2026, 1, 1),
            "end": date(2026, 2, 1),
        },
        {
            "ref": "e2",
            "team": "b",
            "title": "Shorter form",
            "kind": "experiment",
            "surface": "signup",
            "metric": "signup_rate",
            "start": date(2026, 1, 20),
            "end": date(2026, 3, 1),
        },
        {
            "ref": "e3",
            "team": "c",
            "title": "Later test",
            "kind": "experiment",
            "surface": "signup",
            "metric": "signup_rate",
            "start": date(2026, 6, 1),
            "end": date(2026, 7, 1),
        },
    ]
    found = find_overlaps(items)
    assert _pairs(found) == {frozenset(("e1", "e2")): Kind.CONFLICT}
    assert "same metric" in found[0].explanation and "2026" in found[0].explanation


def test_hidden_dependency_by_key_and_not_when_recorded() -> None:
    items = plain_items()
    found = _pairs(find_overlaps(items))
    assert found[frozenset(("MOB-9", "PLAT-42"))] == Kind.HIDDEN_DEPENDENCY
    for it in items:
        if it["ref"] == "MOB-9":
            it["depends_on"] = {"PLAT-42"}
    assert frozenset(("MOB-9", "PLAT-42")) not in _pairs(find_overlaps(items))


def test_hidden_dependency_by_component_of_another_team() -> None:
    items = [
        {"ref": "p1", "team": "platform", "title": "Gateway quotas", "components": ["api-gateway"]},
        {"ref": "p2", "team": "platform", "title": "Gateway TLS", "components": ["api-gateway"]},
        {
            "ref": "m1",
            "team": "mobile",
            "title": "Offline notes",
            "description": "Needs a change in the api-gateway.",
            "components": ["sync"],
        },
        # A plain-word component ("search") mentioned in passing is not a reference.
        {"ref": "s1", "team": "search", "title": "Ranking", "components": ["search"]},
        {
            "ref": "m2",
            "team": "mobile",
            "title": "Notes list",
            "description": "Add search to the notes list.",
            "components": ["notes"],
        },
    ]
    found = find_overlaps(items)
    assert [(o.kind, {o.a, o.b}) for o in found] == [(Kind.HIDDEN_DEPENDENCY, {"m1", "p1"})] or [
        (o.kind, {o.a, o.b}) for o in found
    ] == [(Kind.HIDDEN_DEPENDENCY, {"m1", "p2"})]
    assert "api gateway" in found[0].explanation


def test_only_restricts_to_pairs_touching_changed_items() -> None:
    found = find_overlaps(plain_items(), only={"MOB-3"})
    assert found and all("MOB-3" in (o.a, o.b) for o in found)


def test_explanation_is_short_and_names_terms_and_dates() -> None:
    overlaps = {frozenset((o.a, o.b)): o for o in find_overlaps(plain_items())}
    dup = overlaps[frozenset(("PAY-1", "GRO-7"))]
    assert "csv" in dup.shared_terms and "invoices" in dup.shared_terms
    assert "finance" in dup.shared_labels
    assert dup.overlap_start == date(2026, 3, 15) and dup.overlap_end == date(2026, 5, 1)
    assert len(dup.explanation) < 300


def test_match_finds_texts_whose_shared_words_are_common_in_a_large_corpus() -> None:
    """Evidence linking: a topic that a tenth of a big corpus talks about (a ticket spike) still matches.

    `nearest` skips very common features when generating candidates on large corpora; `match` must not,
    or the busiest topic would be the one with no evidence.
    """
    filler = [f"question {i} about account {i % 97} settings page number {i % 13}" for i in range(2700)]
    topic = [f"billing export fails with timeout for invoice run {i}" for i in range(300)]
    corpus = filler[:1500] + topic + filler[1500:]
    found = match(["Fix the billing export timeout"], corpus, k=len(corpus), min_score=0.18)[0]
    hits = {j for j, _ in found}
    assert hits >= set(range(1500, 1800))
    assert not hits & set(range(1500))
