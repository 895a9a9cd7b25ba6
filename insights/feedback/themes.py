"""Finding themes in feedback text: TF-IDF with NMF. Texts in, clusters out; no ORM here.

NMF on sublinear TF-IDF gives additive, non-negative topics whose top n-grams read as labels
("billing export fails"), and each text's loading says how strongly it belongs. For large inputs the
factorisation is fitted on a sample and applied to all texts, which keeps 200k texts well within
the time budget without changing the topics materially.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer
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
# Words of two or more letters, contractions whole ("don't", "shouldn't"): numbers, ids and one-letter
# tokens carry no theme, and a negation cut in two ("don", "shouldn") reads as nonsense.
WORD_REGEX = r"(?u)\b[a-zA-Z][a-zA-Z]+(?:'[a-zA-Z]+)?\b"
# Texts at least this positive are clustered apart from the rest, so praise never joins a complaint
# theme that shares its nouns ("Sending invoices just works" vs "billing export fails").
PRAISE_MIN_SENTIMENT = 0.3
LABEL_MAX_WORDS = 11


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


def _preprocess(text: str) -> str:
    return text.lower().replace("\u2019", "'")


def _vectorizer(n_texts: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        preprocessor=_preprocess,
        stop_words=FEEDBACK_STOP_WORDS,
        ngram_range=(1, 3),
        min_df=2 if n_texts < 2000 else 5,
        max_df=0.4,
        max_features=30_000,
        sublinear_tf=True,
        dtype=np.float32,
        token_pattern=WORD_REGEX,
    )


def find_themes(
    texts: Sequence[str],
    n_themes: int | None = None,
    min_size: int = 3,
    random_state: int = 0,
    sentiments: Sequence[float | None] | np.ndarray | None = None,
) -> list[Cluster]:
    """Cluster texts into labelled themes, largest first.

    With `sentiments`, praise (score >= PRAISE_MIN_SENTIMENT) and the rest are clustered apart, the
    theme count shared in proportion, so a compliment never lands in a complaint theme about the same
    feature. Each text joins its strongest topic if that topic carries at least a third of its loading;
    texts with no known words stay unthemed.
    """
    n = len(texts)
    if n < max(min_size, 5):
        return []
    total = n_themes or default_theme_count(n)
    if sentiments is not None:
        values = np.nan_to_num(np.asarray(sentiments, dtype=np.float64), nan=0.0)
        praise = values >= PRAISE_MIN_SENTIMENT
        groups = [np.flatnonzero(~praise), np.flatnonzero(praise)]
    else:
        groups = [np.arange(n)]
    clusters: list[Cluster] = []
    vectorizers: dict[int, TfidfVectorizer] = {}
    for group in groups:
        if group.size < max(min_size, 5):
            continue
        k = total if len(groups) == 1 else max(1, round(total * group.size / n))
        found, vec = _cluster([texts[i] for i in group.tolist()], k, min_size, random_state)
        for cluster in found:
            cluster.members = group[cluster.members]
            if vec is not None:
                vectorizers[id(cluster)] = vec
            clusters.append(cluster)
    clusters.sort(key=lambda c: -c.members.size)
    for position, cluster in enumerate(clusters):
        cluster.index = position
    _name_clusters(clusters, texts, vectorizers)
    return clusters


def _cluster(
    texts: Sequence[str], k_wanted: int, min_size: int, random_state: int
) -> tuple[list[Cluster], TfidfVectorizer | None]:
    """NMF topics over distinct texts: clusters with their top terms and members, not yet labelled."""
    n = len(texts)
    # Topics are fitted on distinct texts: a canned phrase or a KB search term repeated every day
    # would otherwise claim a topic of its own by sheer repetition. Repeats still count in the sizes.
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    inverse = inverse.reshape(-1)
    u = len(uniq)
    vec = _vectorizer(u)
    try:
        x = vec.fit_transform(uniq)
    except ValueError:  # no term passed min_df / max_df: nothing to cluster
        return [], None
    vocab = np.asarray(vec.get_feature_names_out())
    k = min(k_wanted, x.shape[1], max(u // min_size, 1))
    if k < 1:
        return [], vec
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
        clusters.append(Cluster(topic, "", terms, idx, strength[idx]))
    return clusters, vec


_LEAD = re.compile(r"^(?:basically|in short|tl;?dr|so|also|fyi|update|edit|ps)\b[\s:,;.\-]*", re.IGNORECASE)
# Any short lead-in ending in a colon ("Honest question:", "Update 2:"), when a real sentence follows.
_LEAD_IN = re.compile(r"^\s*(?:\S+\s+){0,2}\S+:\s+(?=(?:\S+\s+){2}\S)")
_CLAUSE = re.compile(r"[,;:]\s|\s[-\u2013\u2014]\s|\s\(")
_KEY = re.compile(r"[^a-z0-9']+")


def trim_label(sentence: str) -> str:
    """A sentence as a label: lead-ins ("Basically:", "TL;DR") and closing punctuation dropped, cut at
    a clause boundary when long, first letter capitalised. Words are never split, so "shouldn't" stays."""
    text = sentence.strip().strip("\"'\u201c\u201d").replace("\u2019", "'")
    text = _LEAD.sub("", _LEAD_IN.sub("", _LEAD.sub("", text))).rstrip(" .!;:,")
    words = text.split()
    if len(words) > LABEL_MAX_WORDS:
        for match in _CLAUSE.finditer(text):
            head = text[: match.start()]
            if 3 <= len(head.split()) <= LABEL_MAX_WORDS:
                text = head
                break
        else:
            text = " ".join(words[:LABEL_MAX_WORDS]).rstrip(" .!;:,") + "\u2026"
    return text[:1].upper() + text[1:]


def _label_key(label: str) -> str:
    return _KEY.sub(" ", label.lower().rstrip("\u2026")).strip()


class _Sentences:
    """Every text's candidate labels (its sentences, trimmed), counted over all texts of one run."""

    def __init__(self, texts: Sequence[str]):
        from insights.sentiment import sentences

        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        self.inverse = inverse.reshape(-1)
        self.display: dict[str, str] = {}
        self.keys_of: list[list[str]] = []
        for text in uniq.tolist():
            keys = []
            for sentence in sentences(str(text)):
                label = trim_label(sentence)
                key = _label_key(label)
                if len(key) < 3:
                    continue
                self.display.setdefault(key, label)
                keys.append(key)
            self.keys_of.append(sorted(set(keys)))
        self.share_all = self._share(np.arange(len(texts)))

    def _share(self, members: np.ndarray) -> dict[str, float]:
        counts: dict[str, float] = {}
        uniq, repeats = np.unique(self.inverse[members], return_counts=True)
        for u, times in zip(uniq.tolist(), repeats.tolist(), strict=True):
            for key in self.keys_of[u]:
                counts[key] = counts.get(key, 0.0) + times
        return {key: c / max(members.size, 1) for key, c in counts.items()}

    def ranked(self, members: np.ndarray, limit: int = 12, singles: int = 300) -> list[tuple[str, float]]:
        """The cluster's sentences by coverage x lift (common inside the cluster, rarer outside): the top
        `limit` of those said at least twice, plus up to `singles` said once. On real feedback most
        sentences are unique, and then the most central of them (see _name_clusters) makes the label."""
        inside = self._share(members)
        scored = [
            (key, share * math.log1p(share / max(self.share_all[key], 1e-9))) for key, share in inside.items()
        ]
        repeated = [kv for kv in scored if kv[1] > 0 and inside[kv[0]] * members.size >= 2]
        repeated.sort(key=lambda kv: (-kv[1], len(kv[0])))
        once = sorted(kv for kv in scored if inside[kv[0]] * members.size < 2)[:singles]
        return repeated[:limit] + once


def _centrality(labels: list[str], topic: dict[str, float], vec: TfidfVectorizer | None) -> np.ndarray:
    """Cosine of each candidate label's TF-IDF with the theme's top terms (0 when unknown)."""
    if vec is None or not labels or not topic:
        return np.zeros(len(labels))
    rows = normalize(vec.transform(labels))
    vocab = vec.vocabulary_
    weights = np.zeros(rows.shape[1])
    for term, weight in topic.items():
        if term in vocab:
            weights[vocab[term]] = weight
    return np.asarray(rows @ weights).ravel()


def _name_clusters(
    clusters: list[Cluster], texts: Sequence[str], vectorizers: dict[int, TfidfVectorizer]
) -> None:
    """Give each cluster the sentence a PM would write for it, unique among the clusters.

    Candidates are the members' own sentences (trimmed), ranked by how many members say it and how
    specific it is to them, times how central it is to the theme's top terms, with a nudge toward short
    ones. Largest clusters choose first; a cluster whose candidates are all taken falls back to its top
    terms.
    """
    if not clusters:
        return
    table = _Sentences(texts)
    used: set[str] = set()
    for cluster in clusters:
        ranked = table.ranked(cluster.members)
        labels = [table.display[key] for key, _ in ranked]
        central = _centrality(labels, cluster.terms, vectorizers.get(id(cluster)))
        scores = [
            score * (0.5 + c) / (1 + 0.04 * max(0, len(label.split()) - 5))
            for (_, score), c, label in zip(ranked, central.tolist(), labels, strict=True)
        ]
        order = sorted(range(len(labels)), key=lambda i: -scores[i])
        cluster.phrases = [labels[i] for i in order[:3]]
        chosen = next((labels[i] for i in order if _label_key(labels[i]) not in used), None)
        if chosen is None:
            terms = [t for t in cluster.terms if " " not in t][:3]
            chosen = " · ".join(terms) or f"Theme {cluster.index + 1}"
            base, n = chosen, 2
            while _label_key(chosen) in used:
                chosen, n = f"{base} ({n})", n + 1
        used.add(_label_key(chosen))
        cluster.label = chosen


# A new text joins an existing theme when its terms overlap the theme's this much (cosine of term vectors).
ASSIGN_MIN_SIMILARITY = 0.12


def assign_to_themes(
    texts: Sequence[str],
    theme_terms: Sequence[dict[str, float]],
    praise_themes: Sequence[bool] | None = None,
    sentiments: Sequence[float | None] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's best existing theme (an index into `theme_terms`, or -1) and its similarity.

    For a write's recent rows between full re-clusterings: the texts are vectorised over the themes' own
    terms (same tokens, stop words and n-grams as the clustering), binary and L2-normalised, and join the
    theme whose term vector is nearest, if at least ASSIGN_MIN_SIMILARITY. As in `find_themes`, praise
    only joins praise themes and the rest only the others. Texts with no theme stay unthemed until the
    nightly full re-clustering, which may form a new theme from them.
    """
    n = len(texts)
    best = np.full(n, -1, dtype=np.int64)
    score = np.zeros(n)
    vocab = sorted({t for terms in theme_terms for t in terms})
    if not n or not vocab:
        return best, score
    vec = CountVectorizer(
        preprocessor=_preprocess,
        stop_words=FEEDBACK_STOP_WORDS,
        ngram_range=(1, 3),
        vocabulary=vocab,
        binary=True,
        token_pattern=WORD_REGEX,
        dtype=np.float64,
    )
    x = normalize(vec.transform(texts))
    position = {t: i for i, t in enumerate(vocab)}
    themes = np.zeros((len(theme_terms), len(vocab)))
    for row, terms in enumerate(theme_terms):
        for term, weight in terms.items():
            themes[row, position[term]] = weight
    sims = np.asarray(x @ themes.T)
    if praise_themes is not None and sentiments is not None:
        values = np.nan_to_num(np.asarray(sentiments, dtype=np.float64), nan=0.0)
        praise_text = values >= PRAISE_MIN_SENTIMENT
        praise_theme = np.asarray(praise_themes, dtype=bool)
        sims[praise_text[:, None] != praise_theme[None, :]] = 0.0
    best = sims.argmax(axis=1)
    score = sims[np.arange(n), best]
    best[score < ASSIGN_MIN_SIMILARITY] = -1
    return best.astype(np.int64), score


def term_similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two {term: weight} vectors (both already L2-normalised)."""
    if len(a) > len(b):
        a, b = b, a
    return float(sum(w * b.get(t, 0.0) for t, w in a.items()))
