"""Finding themes in feedback text: TF-IDF with NMF. Texts in, clusters out; no ORM here.

NMF on sublinear TF-IDF gives additive, non-negative topics whose top n-grams read as labels
("billing export fails"), and each text's loading says how strongly it belongs. For large inputs the
factorisation is fitted on a sample and applied to all texts, which keeps 200k texts well within
the time budget without changing the topics materially.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.preprocessing import normalize

# Words that are everywhere in support text and say nothing about the topic.
FEEDBACK_STOP_WORDS = sorted(
    ENGLISH_STOP_WORDS
    | {
        "hi",
        "hello",
        "thanks",
        "thank",
        "please",
        "just",
        "really",
        "like",
        "get",
        "got",
        "use",
        "using",
        "app",
        "team",
        "support",
        "help",
        "need",
        "want",
        "know",
        "does",
        "did",
        "able",
        "hey",
        "ve",
        "im",
    }
)
FIT_SAMPLE = 40_000
# Words of two or more letters: numbers, ids and one-letter tokens carry no theme.
WORD_REGEX = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"


@dataclass
class Cluster:
    index: int
    label: str
    terms: dict[str, float]  # top terms, L2-normalised weights
    members: np.ndarray  # indices into the input texts
    weights: np.ndarray  # each member's loading
    phrases: list[str] = field(default_factory=list)


def default_theme_count(n_texts: int) -> int:
    """Roughly one theme per few hundred texts, between 3 and 30: enough to separate issues, few
    enough that a PM can read the list."""
    return int(min(30, max(3, round(math.sqrt(n_texts / 15)))))


def _vectorizer(n_texts: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        stop_words=FEEDBACK_STOP_WORDS,
        ngram_range=(1, 3),
        min_df=2 if n_texts < 2000 else 5,
        max_df=0.4,
        max_features=30_000,
        sublinear_tf=True,
        dtype=np.float32,
        token_pattern=WORD_REGEX,
    )


def label_from_terms(
    ranked_terms: Sequence[str], weights: Sequence[float] | None = None, max_phrases: int = 2
) -> tuple[str, list[str]]:
    """A readable label from a topic's ranked terms.

    Among the terms carrying at least half the top term's weight, longer phrases win ("billing export
    fails" over "billing export"); a second phrase must add new words, so the label never repeats itself.
    """
    top = list(ranked_terms[:12])
    if not top:
        return "", []
    w = list(weights[: len(top)]) if weights is not None else [1.0] * len(top)
    strong = [t for t, wt in zip(top, w, strict=True) if wt >= 0.5 * w[0]] or top[:1]
    # Weaker terms may complete the label, but not ones far below the best: they are noise.
    rest = [t for t, wt in zip(top, w, strict=True) if t not in strong and wt >= 0.3 * w[0]]
    candidates = sorted(strong, key=lambda t: -len(t.split())) + rest
    chosen: list[str] = []
    used: set[str] = set()
    for term in candidates:
        words = set(term.split())
        if words & used:
            continue
        chosen.append(term)
        used |= words
        if len(chosen) >= max_phrases:
            break
    return " · ".join(chosen), chosen


def find_themes(
    texts: Sequence[str], n_themes: int | None = None, min_size: int = 3, random_state: int = 0
) -> list[Cluster]:
    """Cluster texts into themes. Each text joins its strongest topic if that topic carries at least a
    third of its loading; texts with no known words stay unthemed."""
    n = len(texts)
    if n < max(min_size, 5):
        return []
    # Topics are fitted on distinct texts: a canned phrase or a KB search term repeated every day
    # would otherwise claim a topic of its own by sheer repetition. Repeats still count in the sizes.
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    inverse = inverse.reshape(-1)
    u = len(uniq)
    vec = _vectorizer(u)
    try:
        x = vec.fit_transform(uniq)
    except ValueError:  # no term passed min_df / max_df: nothing to cluster
        return []
    vocab = np.asarray(vec.get_feature_names_out())
    k = min(n_themes or default_theme_count(n), x.shape[1], max(u // min_size, 1))
    if k < 1:
        return []
    model = NMF(n_components=k, init="nndsvda", max_iter=250, tol=1e-3, random_state=random_state)
    if u > FIT_SAMPLE:
        rng = np.random.default_rng(random_state)
        sample = np.sort(rng.choice(u, FIT_SAMPLE, replace=False))
        model.fit(x[sample])
        w_u = model.transform(x)
    else:
        w_u = model.fit_transform(x)
    h = model.components_
    w = w_u[inverse]
    totals = w.sum(axis=1)
    best = w.argmax(axis=1)
    strength = w[np.arange(n), best]
    share = np.divide(strength, totals, out=np.zeros_like(strength), where=totals > 0)
    assigned = (totals > 0) & (share >= 1 / 3)

    # Document frequency of every term overall (repeats counted), for labels: a label phrase should be
    # common inside the cluster and rarer outside it (NMF weights favour single words, which read poorly).
    present = sparse.csr_matrix(x, copy=True)
    present.data = np.ones_like(present.data)
    repeats = np.bincount(inverse, minlength=u).astype(np.float64)
    df_all = present.T @ repeats / n
    lengths = np.array([len(t.split()) for t in vocab])
    clusters: list[Cluster] = []
    for topic in range(k):
        idx = np.flatnonzero(assigned & (best == topic))
        if idx.size < min_size:
            continue
        order = np.argsort(-h[topic])[:30]
        weights = h[topic, order]
        norm = float(np.linalg.norm(weights)) or 1.0
        terms = {
            str(vocab[i]): round(float(wt / norm), 5) for i, wt in zip(order, weights, strict=True) if wt > 0
        }
        df_c = present.T @ np.bincount(inverse[idx], minlength=u).astype(np.float64) / idx.size
        phrase_score = df_c * np.log1p(df_c / np.maximum(df_all, 1e-9)) * (1 + 0.35 * (lengths - 1))
        ranked = np.argsort(-phrase_score)[:12]
        label, phrases = label_from_terms([str(vocab[i]) for i in ranked], phrase_score[ranked].tolist())
        clusters.append(Cluster(topic, label, terms, idx, strength[idx], phrases))
    clusters.sort(key=lambda c: -c.members.size)
    return clusters


def term_similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two {term: weight} vectors (both already L2-normalised)."""
    if len(a) > len(b):
        a, b = b, a
    return float(sum(w * b.get(t, 0.0) for t, w in a.items()))


def text_similarity(queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
    """TF-IDF cosine between every query and every document (queries x documents).

    Used for evidence links until the overlap detector's `insights.overlaps.nearest` is merged; it is
    the same idea (shared distinctive words), fitted on both sides so rare words weigh most.
    """
    if not queries or not documents:
        return np.zeros((len(queries), len(documents)))
    vec = TfidfVectorizer(
        stop_words=FEEDBACK_STOP_WORDS,
        ngram_range=(1, 2),
        sublinear_tf=True,
        token_pattern=WORD_REGEX,
    )
    try:
        m = vec.fit_transform([*queries, *documents])
    except ValueError:
        return np.zeros((len(queries), len(documents)))
    m = normalize(m)
    q, d = m[: len(queries)], m[len(queries) :]
    return np.asarray(sparse.csr_matrix(q @ d.T).todense())
