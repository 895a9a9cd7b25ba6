"""find_overlaps: cross-team duplicate work, related work, conflicts and hidden dependencies.

Pure: items come in as `OverlapItem`s (or dicts / DataFrame rows with the same fields), overlaps go out as
`Overlap`s. Selectors build the items from the ORM; services persist the result.

How a pair is found and classified (first rule that fits wins):
1. hidden dependency: one item names another team's item (its tracker key, or its title in the
   description) or a system-like component ("metering-api") that another team owns, and no Dependency
   is recorded between them;
2. conflict: same product, a shared component / surface (or, for experiments, the same surface or primary
   metric) and overlapping date windows, both still open; for non-experiments the texts must also be
   somewhat alike (CONFLICT_MIN_SIMILARITY), since sharing a "web" component is everyday life;
3. duplicate work: text similarity >= DUPLICATE_THRESHOLD;
4. related: similarity >= RELATED_THRESHOLD.
Similarity is the cosine of weighted TF-IDF vectors (title > concepts > description > labels/components),
discounted for items of different products. Stories are not compared by text (their epics are).
Pairs within one team are never reported, and neither are pairs with a recorded Dependency (the teams
already know about each other) or pairs where both items are done.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

import numpy as np
from scipy import sparse

from .concepts import CONCEPT_PREFIX, concepts
from .similarity import _top_k_sparse, top_k_arrays, vectorize_fields

# Scores are cosines of the weighted vectors of item_matrix, so they move if FIELD_WEIGHTS (or the
# vectoriser, or the thesaurus) move. RELATED_THRESHOLD decides what is reported at all; DUPLICATE_THRESHOLD
# only splits reported pairs into duplicate vs related. Paraphrased duplicates (two teams, own words) score
# 0.17-0.28 on the demo portfolio and on the held-out fixture (tests/insights/overlap_heldout.py), so the
# split is coarse: a duplicate can look "related" and the reverse.
DUPLICATE_THRESHOLD = 0.18
RELATED_THRESHOLD = 0.16
# The default reporting threshold: below it a similarity-only pair is not an overlap.
DEFAULT_THRESHOLD = RELATED_THRESHOLD
# Text-similarity pairs reported per item, best first: past a handful, more pairs are noise to a PM.
MAX_SIMILAR_PER_ITEM = 5
# Neighbours examined per item; same-team neighbours are dropped afterwards, so keep headroom.
NEIGHBOURS = 20
FIELD_WEIGHTS = {"title": 1.0, "description": 0.45, "tags": 0.3, "concepts": 0.6}
# Similarity of items in different products (both known) is discounted: duplicates live in one product.
OTHER_PRODUCT_FACTOR = 0.6
# Missing end (or start) dates: assume this span so that an item with one date still has a window.
DEFAULT_SPAN = timedelta(days=60)
DONE = "done"


class Kind:
    DUPLICATE = "duplicate"
    RELATED = "related"
    CONFLICT = "conflict"
    HIDDEN_DEPENDENCY = "hidden_dependency"

    ALL = (DUPLICATE, RELATED, CONFLICT, HIDDEN_DEPENDENCY)
    LABELS = {
        DUPLICATE: "Duplicate work",
        RELATED: "Related work",
        CONFLICT: "Conflict",
        HIDDEN_DEPENDENCY: "Hidden dependency",
    }


@dataclass(frozen=True)
class OverlapItem:
    """One unit of work: a portfolio item, or an experiment (kind="experiment", with surface and metric)."""

    ref: str  # stable identity across runs, e.g. "item:12" or "experiment:4"
    title: str
    team: str | None = None
    description: str = ""
    key: str = ""  # the tracker's key, e.g. "PAY-123", which other items may mention
    product: str | None = None
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    status: str = "todo"  # status category: todo, in_progress, done
    kind: str = "item"  # "item" or "experiment"
    level: str = ""  # the tracker's level: initiative, epic, story ("" = unknown)
    surface: str = ""
    metric: str = ""
    depends_on: frozenset[str] = frozenset()  # refs with a recorded Dependency, either direction

    @classmethod
    def coerce(cls, raw: OverlapItem | Mapping[str, Any]) -> OverlapItem:
        if isinstance(raw, OverlapItem):
            return raw
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in dict(raw).items() if k in names}
        for name in ("labels", "components"):
            data[name] = tuple(data.get(name) or ())
        data["depends_on"] = frozenset(data.get("depends_on") or ())
        for name in ("description", "key", "surface", "metric"):
            data[name] = data.get(name) or ""
        return cls(**data)

    @property
    def window(self) -> tuple[date, date] | None:
        """(start, end); a missing side is assumed DEFAULT_SPAN away from the known one."""
        start, end = self.start, self.end
        if start is None:
            if end is None:
                return None
            start = end - DEFAULT_SPAN
        if end is None:
            end = start + DEFAULT_SPAN
        return (min(start, end), max(start, end))

    @property
    def surfaces(self) -> set[str]:
        """Normalised components and surface: what this work touches."""
        out = {_norm(c) for c in self.components if c}
        if self.surface:
            out.add(_norm(self.surface))
        out.discard("")
        return out


@dataclass
class Overlap:
    a: str
    b: str
    kind: str
    score: float
    similarity: float
    shared_terms: list[str] = field(default_factory=list)
    shared_labels: list[str] = field(default_factory=list)
    shared_components: list[str] = field(default_factory=list)
    shared_concepts: list[str] = field(default_factory=list)
    overlap_start: date | None = None
    overlap_end: date | None = None
    reason: str = ""

    @property
    def explanation(self) -> str:
        """One line a PM reads in five seconds."""
        parts = []
        if self.reason:
            parts.append(self.reason)
        if self.shared_terms:
            parts.append("shared terms: " + ", ".join(self.shared_terms))
        if self.shared_concepts:
            parts.append("same ideas: " + ", ".join(self.shared_concepts))
        if self.shared_components:
            parts.append("same component/surface: " + ", ".join(self.shared_components))
        if self.shared_labels:
            parts.append("shared labels: " + ", ".join(self.shared_labels))
        if self.overlap_start and self.overlap_end:
            parts.append(f"both active {self.overlap_start:%d %b %Y} to {self.overlap_end:%d %b %Y}")
        parts.append(f"similarity {self.similarity:.0%}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "kind": self.kind,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "shared_terms": self.shared_terms,
            "shared_labels": self.shared_labels,
            "shared_components": self.shared_components,
            "shared_concepts": self.shared_concepts,
            "overlap_start": self.overlap_start.isoformat() if self.overlap_start else None,
            "overlap_end": self.overlap_end.isoformat() if self.overlap_end else None,
            "reason": self.reason,
            "explanation": self.explanation,
        }


_NORM_RE = re.compile(r"[^a-z0-9]+")
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-#/.]*[A-Za-z0-9]")
_WORD_RE = re.compile(r"[a-z0-9]+")


def _norm(text: str) -> str:
    return _NORM_RE.sub(" ", text.lower()).strip()


def _coerce_items(items: Iterable[Any]) -> list[OverlapItem]:
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # a pandas DataFrame
        items = items.to_dict("records")
    return [OverlapItem.coerce(it) for it in items]


_SENTENCE_RE = re.compile(r"(?<=[.!?:])\s+")
_VOLATILE_RE = re.compile(r"\b[a-z]*-?\d+\b")


def _strip_boilerplate(descriptions: Sequence[str]) -> list[str]:
    """Drop sentences that many descriptions share verbatim (issue templates, "Acceptance: ..." lines).

    They say nothing about what the work is, yet make every pair of templated items look alike.
    Keys and numbers are masked before counting, so "Part of PAY-12." and "Part of GRO-7." are one sentence.
    """
    split = [[s for s in _SENTENCE_RE.split(d or "") if s.strip()] for d in descriptions]
    counts: Counter[str] = Counter()
    for sentences in split:
        counts.update({_VOLATILE_RE.sub("#", s.lower().strip()) for s in sentences})
    limit = max(BOILERPLATE_MIN_ITEMS, int(BOILERPLATE_SHARE * len(descriptions)))
    return [
        " ".join(s for s in sentences if counts[_VOLATILE_RE.sub("#", s.lower().strip())] < limit)
        for sentences in split
    ]


# A sentence in at least this many descriptions (or this share of them) is template text.
BOILERPLATE_MIN_ITEMS = 3
BOILERPLATE_SHARE = 0.01
# Levels too fine to compare by text: stories are parts of epics, which carry the overlap.
UNCOMPARED_LEVELS = {"story", "task", "subtask", "sub-task"}


def item_matrix(items: Sequence[OverlapItem]) -> sparse.csr_matrix:
    """Weighted TF-IDF rows: title over description, labels/components/surface/metric as whole tokens."""
    tags = [
        [
            *it.labels,
            *it.components,
            *([it.surface] if it.surface else []),
            *([it.metric] if it.metric else []),
        ]
        for it in items
    ]
    return vectorize_fields(
        {
            "title": [it.title for it in items],
            "description": _strip_boilerplate([it.description for it in items]),
            "tags": tags,
            "concepts": [concepts(f"{it.title}. {it.description}") for it in items],
        },
        FIELD_WEIGHTS,
    )


def _overlap_window(a: OverlapItem, b: OverlapItem) -> tuple[date, date] | None:
    wa, wb = a.window, b.window
    if wa is None or wb is None:
        return None
    lo, hi = max(wa[0], wb[0]), min(wa[1], wb[1])
    return (lo, hi) if lo <= hi else None


class _Terms:
    """Shared key terms of two items, from a word-only TF-IDF (interpretable, unlike char n-grams)."""

    def __init__(self, items: Sequence[OverlapItem]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [f"{it.title} {it.title} {it.description}" for it in items]
        self.vectorizer = TfidfVectorizer(
            stop_words="english",
            token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b",  # noqa: S106 (a regex, not a password)
        )
        try:
            self.matrix = self.vectorizer.fit_transform(texts).tocsr()
            self.names = self.vectorizer.get_feature_names_out()
        except ValueError:
            self.matrix = None

    def shared_many(self, pairs: Sequence[tuple[int, int]], top: int = 5) -> list[list[str]]:
        if self.matrix is None or not pairs:
            return [[] for _ in pairs]
        left = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        right = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        product = sparse.csr_matrix(self.matrix[left].multiply(self.matrix[right]))
        idx, scores = _top_k_sparse(product, top)
        return [
            [str(self.names[c]) for c, s in zip(row_idx, row_scores, strict=True) if s > 0]
            for row_idx, row_scores in zip(idx.tolist(), scores.tolist(), strict=True)
        ]

    def shared(self, i: int, j: int, top: int = 5) -> list[str]:
        if self.matrix is None:
            return []
        product = self.matrix[i].multiply(self.matrix[j]).tocoo()
        if product.nnz == 0:
            return []
        order = np.argsort(-product.data)[:top]
        return [str(self.names[product.col[o]]) for o in order]


def _component_owners(items: Sequence[OverlapItem]) -> dict[str, str]:
    """component -> the team that clearly owns it (more than half of the items that carry it)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for it in items:
        if it.team is None:
            continue
        for comp in {_norm(c) for c in it.components if c}:
            counts[comp][it.team] += 1
    owners = {}
    for comp, by_team in counts.items():
        # Only system-like names ("metering-api"): a plain word ("checkout") in a text is not a reference.
        if len(comp) < 3 or " " not in comp:
            continue
        team, n = by_team.most_common(1)[0]
        if n * 2 > sum(by_team.values()):
            owners[comp] = team
    return owners


def _phrases(text: str, max_len: int = 3) -> set[str]:
    words = _WORD_RE.findall(text.lower())
    out = set()
    for n in range(1, max_len + 1):
        for i in range(len(words) - n + 1):
            out.add(" ".join(words[i : i + n]))
    return out


def find_overlaps(
    items: Iterable[Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
    neighbours: int = NEIGHBOURS,
    only: Iterable[str] | None = None,
    matrix: sparse.csr_matrix | None = None,
) -> list[Overlap]:
    """All cross-team overlaps among `items`, best first.

    `only`: refs of changed items; when given, only pairs involving at least one of them are returned
    (the incremental recompute after a sync). Vectors are still fitted on all items so scores match a
    full run. `matrix`: precomputed `item_matrix(items)`, to share one vectorisation.
    """
    items = _coerce_items(items)
    n = len(items)
    if n < 2:
        return []
    index = {it.ref: i for i, it in enumerate(items)}
    only_idx = sorted({index[r] for r in (only or ()) if r in index}) if only is not None else list(range(n))
    if not only_idx:
        return []
    focus = set(only_idx)
    X = matrix if matrix is not None else item_matrix(items)
    teams = [it.team for it in items]
    # Per-item facts, computed once: the pair loops below only look them up.
    surfaces = [it.surfaces for it in items]
    windows = [it.window for it in items]
    done = [it.status == DONE for it in items]
    label_sets = [{x.lower() for x in it.labels} for it in items]
    concept_sets = [set(concepts(f"{it.title}. {it.description}")) for it in items]
    with_deps = any(it.depends_on for it in items)

    def cross_team(i: int, j: int) -> bool:
        return teams[i] is None or teams[j] is None or teams[i] != teams[j]

    def known(i: int, j: int) -> bool:
        return with_deps and (items[j].ref in items[i].depends_on or items[i].ref in items[j].depends_on)

    def sim(i: int, j: int) -> float:
        return float(X[i].multiply(X[j]).sum())

    def both_active(i: int, j: int) -> tuple[date, date] | None:
        wa, wb = windows[i], windows[j]
        if wa is None or wb is None:
            return None
        lo, hi = max(wa[0], wb[0]), min(wa[1], wb[1])
        return (lo, hi) if lo <= hi else None

    # pair (low index first) -> (i, j, kind, score, similarity, reason); Overlaps are built at the end.
    found: dict[tuple[int, int], tuple[int, int, str, float, float, str]] = {}

    def add(i: int, j: int, kind: str, score: float, similarity: float, reason: str = "") -> None:
        pair = (i, j) if i < j else (j, i)
        if pair not in found:
            found[pair] = (i, j, kind, score, similarity, reason)

    # 1. Hidden dependencies: explicit references.
    key_index: dict[str, int] = {}
    for i, it in enumerate(items):
        key = it.key.strip()
        if len(key) >= 3 and not key.isdigit():
            key_index[key.lower()] = i
    owners = _component_owners(items)
    by_component: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        for comp in {_norm(c) for c in it.components if c}:
            by_component[comp].append(i)

    for i in only_idx:
        it = items[i]
        text = f"{it.title}\n{it.description}"
        for token in _TOKEN_RE.findall(text):
            j = key_index.get(token.lower())
            if j is None or j == i or not cross_team(i, j) or known(i, j):
                continue
            add(i, j, Kind.HIDDEN_DEPENDENCY, 0.9, sim(i, j), f"mentions {items[j].key}")
        if owners:
            own = {_norm(c) for c in it.components}
            for comp in _phrases(text) & owners.keys():
                team = owners[comp]
                if comp in own or team == it.team or it.team is None:
                    continue
                candidates = [j for j in by_component[comp] if teams[j] == team and not done[j]]
                if not candidates or any(known(i, j) for j in by_component[comp] if teams[j] == team):
                    continue
                scores = (X[candidates] @ X[i].T).toarray().ravel()
                j = candidates[int(np.argmax(scores))]
                reason = f"mentions {comp!r}, a component of {team}"
                add(i, j, Kind.HIDDEN_DEPENDENCY, 0.8, float(scores.max()), reason)

    # 2./4. Similar text: sparse top-k neighbours for the focus rows. The cheap rules (other team, both
    # compared by text, above the floor after the other-product discount) are applied to all neighbours
    # at once; only the survivors go through the per-pair rules.
    focus_rows = np.asarray(only_idx, dtype=np.int64)
    idx, scores = top_k_arrays(X[focus_rows], X, neighbours + 1)
    floor = min(threshold, RELATED_THRESHOLD)
    team_code = _codes(teams)
    product_code = _codes([it.product for it in items])
    # Stories are compared through their epics; experiments overlap by surface/metric and time (the
    # conflict pass), not by wording.
    by_text = np.array([it.level not in UNCOMPARED_LEVELS and it.kind != "experiment" for it in items])
    left = np.broadcast_to(focus_rows[:, None], idx.shape)
    ti, tj, pi, pj = team_code[left], team_code[idx], product_code[left], product_code[idx]
    same_product = (pi < 0) | (pj < 0) | (pi == pj)
    adjusted = np.where(same_product, scores, scores * np.float32(OTHER_PRODUCT_FACTOR))
    keep = (
        (idx != left)
        & (adjusted >= floor)
        & ((ti < 0) | (tj < 0) | (ti != tj))
        & by_text[left]
        & by_text[idx]
    )
    titles = [it.title.lower() for it in items]
    descriptions = [it.description.lower() for it in items]
    for row in np.flatnonzero(keep.any(axis=1)).tolist():
        i = only_idx[row]
        reported = 0
        cols = np.flatnonzero(keep[row])
        for j, s, same in zip(
            idx[row, cols].tolist(),
            adjusted[row, cols].tolist(),
            same_product[row, cols].tolist(),
            strict=True,
        ):
            if reported >= MAX_SIMILAR_PER_ITEM:
                break
            # Both done still counts: two teams built the same thing, worth knowing (not for conflicts).
            if known(i, j):
                continue
            reason = ""
            kind = Kind.DUPLICATE if s >= duplicate_threshold else Kind.RELATED
            # One item's description quoting the other's title is a reference (equal titles are not).
            if len(titles[j]) >= 12 and titles[j] in descriptions[i]:
                kind, reason = Kind.HIDDEN_DEPENDENCY, f"mentions “{items[j].title}”"
            elif len(titles[i]) >= 12 and titles[i] in descriptions[j]:
                kind, reason = Kind.HIDDEN_DEPENDENCY, f"mentions “{items[i].title}”"
            elif same and not (done[i] or done[j]) and surfaces[i] & surfaces[j] and both_active(i, j):
                reason = "same component, same time"
                add(i, j, Kind.CONFLICT, _conflict_score(items[i], items[j], s), s, reason)
                continue
            if kind == Kind.RELATED and s < threshold:
                continue
            add(i, j, kind, s, s, reason)
            reported += 1

    # 3. Conflicts: same product + same component/surface/metric + overlapping windows, both open.
    groups: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        if done[i] or windows[i] is None or it.level in UNCOMPARED_LEVELS:
            continue
        keys = set(surfaces[i])
        if it.kind == "experiment" and it.metric:
            keys.add("metric " + _norm(it.metric))
        for key in keys:
            groups[(it.product, key)].append(i)
    for (_, key), members in groups.items():
        if len(members) < 2 or not focus.intersection(members):
            continue
        if len(members) > 60:  # a catch-all component: only pairs that are also textually close count
            continue
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if (i not in focus and j not in focus) or not cross_team(i, j) or known(i, j):
                    continue
                if both_active(i, j) is None:
                    continue
                pair = (i, j) if i < j else (j, i)
                if pair in found and found[pair][2] in (Kind.HIDDEN_DEPENDENCY, Kind.CONFLICT):
                    continue
                a, b = items[i], items[j]
                s = sim(i, j)
                experiments = a.kind == "experiment" and b.kind == "experiment"
                if not experiments and s < CONFLICT_MIN_SIMILARITY:
                    continue
                score = _conflict_score(a, b, s)
                what = "metric" if key.startswith("metric ") else "surface"
                reason = (
                    f"two experiments on the same {what} at the same time"
                    if experiments
                    else "same component, same time"
                )
                found.pop(pair, None)
                add(i, j, Kind.CONFLICT, score, s, reason)

    # Explanations only for the reported pairs; shared terms for all of them in one sparse operation.
    pairs = list(found)
    terms = _Terms(items)
    out = []
    for (i, j, kind, score, similarity, reason), shared in zip(
        found.values(), terms.shared_many(pairs), strict=True
    ):
        window = both_active(i, j)
        out.append(
            Overlap(
                a=items[i].ref,
                b=items[j].ref,
                kind=kind,
                score=score,
                similarity=similarity,
                shared_terms=shared,
                shared_labels=sorted(label_sets[i] & label_sets[j]),
                shared_components=sorted(surfaces[i] & surfaces[j]),
                shared_concepts=[
                    c.removeprefix(CONCEPT_PREFIX) for c in sorted(concept_sets[i] & concept_sets[j])
                ][:5],
                overlap_start=window[0] if window else None,
                overlap_end=window[1] if window else None,
                reason=reason,
            )
        )
    return sorted(out, key=lambda o: (-o.score, o.a, o.b))


# Two non-experiment items on one component only conflict if they are also about something alike; a shared
# "web" component alone is everyday life in a product, not a conflict.
CONFLICT_MIN_SIMILARITY = 0.12


def _codes(values: Sequence[str | None]) -> np.ndarray:
    """An integer per distinct value, -1 for None (unknown team or product), for vectorised comparisons."""
    seen: dict[str, int] = {}
    return np.array([-1 if v is None else seen.setdefault(v, len(seen)) for v in values], dtype=np.int64)


def _same_product(a: OverlapItem, b: OverlapItem) -> bool:
    return a.product is None or b.product is None or a.product == b.product


def _conflict_score(a: OverlapItem, b: OverlapItem, similarity: float) -> float:
    """0.5 for colliding at all, up to +0.3 for how much of the shorter window overlaps, +0.2 x similarity."""
    window = _overlap_window(a, b)
    if window is None:
        return 0.0
    days = (window[1] - window[0]).days + 1
    span = max(1, min(_span_days(a), _span_days(b)))
    return min(1.0, 0.5 + 0.3 * min(1.0, days / span) + 0.2 * similarity)


def _span_days(it: OverlapItem) -> int:
    window = it.window
    return (window[1] - window[0]).days + 1 if window else 1
