"""Text similarity for overlaps and evidence linking: sparse TF-IDF, cosine, sparse top-k neighbours.

Pure functions, no ORM. Everything works on L2-normalised sparse TF-IDF rows, where cosine similarity is a
dot product, so neighbours come from chunked sparse matrix products: a block of rows times the transposed
matrix, then the top k per row with argpartition. Memory is bounded by `chunk` x n, never n x n.

Two kinds of features are stacked:
- word uni- and bigrams (stop words dropped) catch shared vocabulary ("billing export");
- character 3-5 grams within word boundaries catch inflections and typos ("exports", "exprot").

Reuse: `nearest(texts, k)` for one corpus, `match(queries, corpus, k)` to link one set of texts to
another (e.g. portfolio items to support tickets), and `vectorize_fields` to weigh several fields
(title above description, labels and components as whole tokens) before `nearest_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import sparse

# Character n-grams present in more than this share of a large corpus ("ing", " th") carry almost no
# idf weight but make the sparse product nearly dense; dropping them keeps the search fast.
CHAR_MAX_DF = 0.05
# Below this corpus size the pruning is pointless (and would remove real signal from tiny corpora).
PRUNE_MIN_DOCS = 2000
WORD_WEIGHT = 0.6
CHAR_WEIGHT = 0.4
DEFAULT_CHUNK = 1024

Neighbours = list[list[tuple[int, float]]]


def _word_vectorizer(n_docs: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        stop_words="english",
        sublinear_tf=True,
        token_pattern=r"(?u)\b[a-zA-Z0-9][\w\-]*\b",
        dtype=np.float32,
    )


def _char_vectorizer(n_docs: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    large = n_docs >= PRUNE_MIN_DOCS
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        min_df=2 if large else 1,
        max_df=CHAR_MAX_DF if large else 1.0,
        dtype=np.float32,
    )


def _normalise(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    from sklearn.preprocessing import normalize

    return normalize(sparse.csr_matrix(matrix, dtype=np.float32), norm="l2", copy=False)


def _fit_block(texts: Sequence[str]) -> sparse.csr_matrix:
    """Word and character TF-IDF for one field, stacked and normalised (an all-empty field gives zeros)."""
    n = len(texts)
    blocks = []
    for make, weight in ((_word_vectorizer, WORD_WEIGHT), (_char_vectorizer, CHAR_WEIGHT)):
        try:
            block = make(n).fit_transform(texts)
        except ValueError:  # empty vocabulary: every text empty or only stop words
            continue
        blocks.append(_normalise(block) * np.float32(np.sqrt(weight)))
    if not blocks:
        return sparse.csr_matrix((n, 1), dtype=np.float32)
    return sparse.hstack(blocks, format="csr", dtype=np.float32)


def _fit_tags(tags: Sequence[Sequence[str]]) -> sparse.csr_matrix:
    """Labels and components as whole tokens: "billing-api" matches only "billing-api"."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [[t.strip().lower() for t in row if t and t.strip()] for row in tags]
    vectorizer = TfidfVectorizer(analyzer=_identity, dtype=np.float32)
    try:
        return _normalise(vectorizer.fit_transform(docs))
    except ValueError:
        return sparse.csr_matrix((len(docs), 1), dtype=np.float32)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def vectorize(texts: Sequence[str]) -> sparse.csr_matrix:
    """L2-normalised sparse TF-IDF rows (word + character n-grams) for plain texts."""
    return _normalise(_fit_block(list(texts)))


def vectorize_fields(
    fields: Mapping[str, Sequence[str] | Sequence[Sequence[str]]], weights: Mapping[str, float]
) -> sparse.csr_matrix:
    """Weighted TF-IDF over several fields of the same rows, e.g. title, description and tags.

    A field whose values are strings gets word + character n-grams; a field whose values are lists of
    strings (labels, components) is treated as whole tokens. Each field block is normalised, scaled by
    sqrt(weight) and stacked, so a field's share of the final cosine is proportional to its weight when
    both rows have it.
    """
    blocks = []
    n_rows = None
    for name, values in fields.items():
        weight = weights.get(name, 1.0)
        if weight <= 0:
            continue
        values = list(values)
        n_rows = len(values) if n_rows is None else n_rows
        if len(values) != n_rows:
            raise ValueError(f"field {name!r} has {len(values)} rows, expected {n_rows}")
        is_tags = any(not isinstance(v, str) for v in values)
        block = _fit_tags(values) if is_tags else _fit_block([str(v or "") for v in values])  # type: ignore[arg-type]
        blocks.append(block * np.float32(np.sqrt(weight)))
    if not blocks:
        raise ValueError("vectorize_fields needs at least one field with a positive weight")
    return _normalise(sparse.hstack(blocks, format="csr", dtype=np.float32))


def _top_k_block(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the k largest values per row, best first."""
    k = min(k, sims.shape[1])
    if k <= 0:
        empty = np.zeros((sims.shape[0], 0))
        return empty.astype(np.int64), empty
    if k < sims.shape[1]:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(sims.shape[1]), (sims.shape[0], 1))
    scores = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(scores, order, axis=1)


def top_k_arrays(
    queries: sparse.csr_matrix,
    corpus: sparse.csr_matrix,
    k: int,
    *,
    exclude_self: bool = False,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores), each shaped (n_queries, k): the top-k corpus rows per query by dot product.

    Rows must be L2-normalised so the dot product is the cosine. With `exclude_self`, queries and corpus
    are the same rows and a row is never its own neighbour. Scores of 0 mean "no neighbour"; callers drop
    them.
    """
    n_q = queries.shape[0]
    k_eff = max(0, min(k, corpus.shape[0] - (1 if exclude_self else 0)))
    idx_out = np.zeros((n_q, k_eff), dtype=np.int64)
    score_out = np.zeros((n_q, k_eff), dtype=np.float32)
    if n_q == 0 or k_eff == 0:
        return idx_out, score_out
    corpus_t = sparse.csc_matrix(corpus.T)
    for lo in range(0, n_q, chunk):
        hi = min(lo + chunk, n_q)
        sims = (queries[lo:hi] @ corpus_t).toarray()
        if exclude_self:
            rows = np.arange(hi - lo)
            sims[rows, rows + lo] = -1.0
        idx, scores = _top_k_block(sims, k_eff)
        idx_out[lo:hi] = idx
        score_out[lo:hi] = np.clip(scores, 0.0, 1.0)
    return idx_out, score_out


def _to_lists(idx: np.ndarray, scores: np.ndarray, min_score: float) -> Neighbours:
    out: Neighbours = []
    for row_idx, row_scores in zip(idx.tolist(), scores.tolist(), strict=True):
        out.append([(j, round(s, 6)) for j, s in zip(row_idx, row_scores, strict=True) if s > min_score])
    return out


def nearest_rows(matrix: sparse.csr_matrix, k: int, *, min_score: float = 0.0, chunk: int = DEFAULT_CHUNK) -> Neighbours:
    """For each L2-normalised row, its k most similar other rows as (index, cosine), best first."""
    idx, scores = top_k_arrays(matrix, matrix, k, exclude_self=True, chunk=chunk)
    return _to_lists(idx, scores, min_score)


def nearest(texts: list[str], k: int) -> list[list[tuple[int, float]]]:
    """For each text, its k most similar *other* texts as (index, score in [0, 1]), best first.

    Texts with nothing in common get fewer than k neighbours (zero-similarity pairs are left out).
    Sparse TF-IDF over word and character n-grams, cosine similarity, chunked sparse search: memory
    grows with n x chunk, not n x n. To weigh fields differently, use `vectorize_fields` + `nearest_rows`.
    """
    if k < 1 or len(texts) < 2:
        return [[] for _ in texts]
    return nearest_rows(vectorize(texts), k)


def match(
    queries: Sequence[str], corpus: Sequence[str], k: int, *, min_score: float = 0.0
) -> list[list[tuple[int, float]]]:
    """For each query text, the k most similar corpus texts (indices into `corpus`) above `min_score`.

    The TF-IDF vocabulary and idf are fitted on queries and corpus together, so both sides share one space.
    """
    if not queries or not corpus or k < 1:
        return [[] for _ in queries]
    matrix = vectorize([*queries, *corpus])
    n_q = len(queries)
    idx, scores = top_k_arrays(matrix[:n_q], matrix[n_q:], k)
    return _to_lists(idx, scores, min_score)
