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

import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import sparse

from .concepts import CONCEPT_PREFIX, concepts

# Below this corpus size the search is exact (see top_k_arrays).
PRUNE_MIN_DOCS = 2000
WORD_WEIGHT = 0.6
CHAR_WEIGHT = 0.4
DEFAULT_CHUNK = 1024
# Large corpora: features in more than this share of rows (and at least COMMON_DF_MIN rows) do not
# generate candidates; they still count in every score. CANDIDATES candidates per row are rescored.
# bench/overlaps.py measures what these cost in recall against a brute-force search.
COMMON_DF_SHARE = 0.03
COMMON_DF_MIN = 50
CANDIDATES = 60
# _top_k_sparse sorts everything when a block holds fewer scores than this per row on average.
SORT_ALL_BELOW = 64

CHAR_NGRAMS = (3, 4)
# A character n-gram in more than this share of texts (and more than CHAR_MAX_DF_MIN of them) is dropped,
# like a stop word: "ing", "ion", "ent" are in most texts and say nothing about what the work is, yet
# they are most of the character features of a large corpus. Small corpora keep every n-gram.
CHAR_MAX_DF_SHARE = 0.03
CHAR_MAX_DF_MIN = 100
WORD_TOKEN = r"(?u)\b[a-zA-Z0-9][\w\-]*\b"  # noqa: S105 (a regex, not a password)
_WORD_RE = re.compile(WORD_TOKEN)

Neighbours = list[list[tuple[int, float]]]


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _tokens(text: str, stop: frozenset[str]) -> list[str]:
    return [w for w in _WORD_RE.findall(text.lower()) if w not in stop]


def _uni_bigrams(tokens: list[str]) -> list[str]:
    return [*tokens, *(f"{a} {b}" for a, b in itertools.pairwise(tokens))]


def _char_ngrams(word: str) -> list[str]:
    padded = f" {word} "
    return [padded[i : i + n] for n in CHAR_NGRAMS for i in range(len(padded) - n + 1)]


def _char_counts(
    word_counts: sparse.csr_matrix, words: Sequence[str], drop_common: bool = True
) -> sparse.csr_matrix:
    """Character n-grams within word boundaries (like sklearn's "char_wb"), as counts per text.

    Built as word counts x (word -> its n-grams): each distinct word is split once instead of once per
    occurrence, which is most of the cost of a character vectorizer on a large corpus. Very common
    n-grams are dropped (CHAR_MAX_DF_SHARE) unless `drop_common` is False.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    word_grams = CountVectorizer(analyzer=_char_ngrams, dtype=np.float32).fit_transform(words)
    counts = sparse.csr_matrix(word_counts @ word_grams)
    if not drop_common:
        return counts
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    limit = max(CHAR_MAX_DF_MIN, int(CHAR_MAX_DF_SHARE * counts.shape[0]))
    if (df > limit).any():
        counts = sparse.csr_matrix(counts[:, np.flatnonzero(df <= limit)])
    return counts


def _tfidf(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer(sublinear_tf=True).fit_transform(counts)


def _normalise(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    from sklearn.preprocessing import normalize

    return normalize(sparse.csr_matrix(matrix, dtype=np.float32), norm="l2", copy=False)


def _fit_block(
    texts: Sequence[str], with_concepts: bool = True, drop_common_chars: bool = True
) -> sparse.csr_matrix:
    """Word and character TF-IDF for one field, stacked and normalised (an all-empty field gives zeros).

    Each text is tokenised once (lower case, stop words dropped); word uni- and bigrams come from the
    tokens, character n-grams from the distinct words. With `with_concepts`, the thesaurus' concept
    tokens (see concepts.py) are added as extra words.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    n = len(texts)
    stop = _stop_words()
    tokens = [_tokens(t, stop) for t in texts]
    docs = [_uni_bigrams(toks) for toks in tokens]
    if with_concepts:
        docs = [doc + concepts(t) for doc, t in zip(docs, texts, strict=True)]
    blocks = []
    try:
        vectorizer = CountVectorizer(analyzer=_identity, dtype=np.float32)
        word_counts = sparse.csr_matrix(vectorizer.fit_transform(docs))
    except ValueError:  # empty vocabulary: every text empty or only stop words
        return sparse.csr_matrix((n, 1), dtype=np.float32)
    blocks.append(_normalise(_tfidf(word_counts)) * np.float32(np.sqrt(WORD_WEIGHT)))
    vocabulary = vectorizer.get_feature_names_out()
    single = np.flatnonzero([" " not in w and not w.startswith(CONCEPT_PREFIX) for w in vocabulary])
    if single.size:
        chars = _char_counts(
            sparse.csr_matrix(word_counts[:, single]), vocabulary[single].tolist(), drop_common_chars
        )
        if chars.shape[1]:
            blocks.append(_normalise(_tfidf(chars)) * np.float32(np.sqrt(CHAR_WEIGHT)))
    return sparse.hstack(blocks, format="csr", dtype=np.float32)


def _fit_tags(tags: Sequence[Sequence[str]]) -> sparse.csr_matrix:
    """Labels and components as whole tokens: "billing-api" matches only "billing-api".

    Rows are not normalised one by one: a row whose only tag is one everybody has ("okr") would
    otherwise weigh as much as a rare, telling tag. Instead weights are idf / max idf, so a tag's pull
    depends on how rare it is.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [[t.strip().lower() for t in row if t and t.strip()] for row in tags]
    vectorizer = TfidfVectorizer(
        analyzer=_identity, dtype=np.float32, norm=None, use_idf=True, smooth_idf=True
    )
    try:
        matrix = sparse.csr_matrix(vectorizer.fit_transform(docs), dtype=np.float32)
    except ValueError:
        return sparse.csr_matrix((len(docs), 1), dtype=np.float32)
    matrix.data = np.minimum(matrix.data, 1.0)  # a tag repeated in one row counts once
    matrix = sparse.csr_matrix(matrix.multiply(1.0))
    idf = vectorizer.idf_.astype(np.float32)
    binary = matrix.copy()
    binary.data[:] = 1.0
    scaled = sparse.csr_matrix(binary @ sparse.diags(idf / idf.max()))
    # Rows with several tags: keep the block's norm at most 1, like the text blocks.
    norms = np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=1)).ravel())
    scale = np.where(norms > 1, 1 / np.maximum(norms, 1e-9), 1.0).astype(np.float32)
    return sparse.csr_matrix(sparse.diags(scale) @ scaled)


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def vectorize(texts: Sequence[str], *, drop_common_chars: bool = True) -> sparse.csr_matrix:
    """L2-normalised sparse TF-IDF rows (word + character n-grams) for plain texts."""
    return _normalise(_fit_block(list(texts), drop_common_chars=drop_common_chars))


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
        block = (
            _fit_tags(values) if is_tags else _fit_block([str(v or "") for v in values], with_concepts=False)
        )
        blocks.append(block * np.float32(np.sqrt(weight)))
    if not blocks:
        raise ValueError("vectorize_fields needs at least one field with a positive weight")
    return _normalise(sparse.hstack(blocks, format="csr", dtype=np.float32))


def _top_k_sparse(sims: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k per row of a sparse matrix, best first, without densifying it.

    A search block holds thousands of scores per row: a partial selection per row (argpartition on the
    row's stored scores only) is much cheaper than sorting them all or unpacking the block to n columns.
    With only a few scores per row, one vectorised sort of (row, -score) beats the per-row loop.
    """
    n_rows = sims.shape[0]
    idx_out = np.zeros((n_rows, k), dtype=np.int64)
    score_out = np.zeros((n_rows, k), dtype=np.float32)
    if sims.nnz == 0 or k == 0:
        return idx_out, score_out
    indptr, data, cols = sims.indptr, sims.data, sims.indices
    if sims.nnz < SORT_ALL_BELOW * n_rows:  # few scores per row (e.g. shared terms of pairs): sort them all
        rows = np.repeat(np.arange(n_rows), np.diff(indptr))
        order = np.lexsort((-data, rows))
        rows, cols, data = rows[order], cols[order], data[order]
        rank = np.arange(rows.size) - np.searchsorted(rows, np.arange(n_rows))[rows]
        keep = rank < k
        idx_out[rows[keep], rank[keep]] = cols[keep]
        score_out[rows[keep], rank[keep]] = data[keep]
        return idx_out, score_out
    for row in range(n_rows):
        lo, hi = indptr[row], indptr[row + 1]
        size = hi - lo
        if size == 0:
            continue
        picked = np.argpartition(data[lo:hi], size - k)[size - k :] if size > k else np.arange(size)
        picked = picked[np.argsort(-data[lo:hi][picked], kind="stable")]
        idx_out[row, : picked.size] = cols[lo:hi][picked]
        score_out[row, : picked.size] = data[lo:hi][picked]
    return idx_out, score_out


def _common_columns(corpus: sparse.csr_matrix) -> np.ndarray:
    """Boolean mask of features so frequent that they make the product dense (see COMMON_DF_SHARE)."""
    n = corpus.shape[0]
    if n < PRUNE_MIN_DOCS:
        return np.zeros(corpus.shape[1], dtype=bool)
    df = np.bincount(corpus.indices, minlength=corpus.shape[1])
    return df > max(COMMON_DF_MIN, int(COMMON_DF_SHARE * n))


def _rescore(
    cand: np.ndarray, partial: np.ndarray, common_q: sparse.csr_matrix, common_c: sparse.csr_matrix, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores for candidates: the distinctive part (known) plus the common features' part.

    The common part of every (query, candidate) pair at once: gather the candidates' rows of the common
    block, multiply each stored value by the query's value in the same column (the query rows are dense,
    there are few common columns), and sum per pair.
    """
    n_rows, n_cand = cand.shape
    width = common_q.shape[1]
    query = common_q.toarray().ravel()
    rows = common_c[cand.ravel()]
    pair = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    products = rows.data * query[(pair // n_cand) * width + rows.indices]
    extra = np.bincount(pair, weights=products, minlength=rows.shape[0]).reshape(n_rows, n_cand)
    scores = np.where(partial > 0, partial + extra, 0.0).astype(np.float32)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(scores, order, axis=1)


def top_k_arrays(
    queries: sparse.csr_matrix,
    corpus: sparse.csr_matrix,
    k: int,
    *,
    exclude_self: bool = False,
    chunk: int = DEFAULT_CHUNK,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores), each shaped (n_queries, k): the top-k corpus rows per query by cosine.

    Rows must be L2-normalised. With `exclude_self`, queries are the first rows of the corpus (or the
    corpus itself) and a row is never its own neighbour. Scores of 0 mean "no neighbour".

    Queries go in row blocks of `chunk`: the block's sparse product with the transposed corpus, then each
    row's top candidates (`_top_k_sparse`). Small corpora get an exact search. Large ones use the
    search-engine trick: candidates come from the product over *distinctive* features only (those in at
    most ~3% of rows), because the handful of features common to everything make that product nearly
    dense (n x n work) while adding little to any one pair; each candidate is then rescored exactly with
    all features. bench/overlaps.py measures
    the recall of this against a brute-force dense search.
    """
    n_q = queries.shape[0]
    n_c = corpus.shape[0]
    k_eff = max(0, min(k, n_c - (1 if exclude_self else 0)))
    idx_out = np.zeros((n_q, k_eff), dtype=np.int64)
    score_out = np.zeros((n_q, k_eff), dtype=np.float32)
    if n_q == 0 or k_eff == 0:
        return idx_out, score_out
    common = np.zeros(corpus.shape[1], dtype=bool) if exact else _common_columns(corpus)
    pruned = bool(common.any())
    if pruned:
        rare_cols = np.flatnonzero(~common)
        common_cols = np.flatnonzero(common)
        search_q, search_c = queries[:, rare_cols].tocsr(), corpus[:, rare_cols]
        common_q, common_c = queries[:, common_cols].tocsr(), corpus[:, common_cols].tocsr()
        n_cand = max(CANDIDATES, 3 * k_eff)
    else:
        search_q, search_c, n_cand = queries, corpus, k_eff
    corpus_t = sparse.csr_matrix(search_c.T)
    for lo in range(0, n_q, chunk):
        hi = min(lo + chunk, n_q)
        sims = sparse.csr_matrix(search_q[lo:hi] @ corpus_t)
        if exclude_self:
            rows = np.repeat(np.arange(lo, hi), np.diff(sims.indptr))
            sims.data[sims.indices == rows] = 0
        cand, partial = _top_k_sparse(sims, n_cand)
        if pruned:
            cand, scores = _rescore(cand, partial, common_q[lo:hi], common_c, k_eff)
        else:
            scores = partial
        scores = np.clip(scores, 0.0, 1.0).astype(np.float32)
        cand[scores <= 0] = 0
        idx_out[lo:hi] = cand
        score_out[lo:hi] = scores
    return idx_out, score_out


def _to_lists(idx: np.ndarray, scores: np.ndarray, min_score: float) -> Neighbours:
    # Rounded and converted in bulk: per-element round() is a visible share of a 50k-item run. Rows are
    # sorted best first, so the kept neighbours are a prefix of each row.
    rounded = np.round(scores.astype(np.float64), 6)
    counts = (rounded > min_score).sum(axis=1).tolist()
    return [
        list(zip(row_idx[:c], row_scores[:c], strict=True))
        for row_idx, row_scores, c in zip(idx.tolist(), rounded.tolist(), counts, strict=True)
    ]


def nearest_rows(
    matrix: sparse.csr_matrix, k: int, *, min_score: float = 0.0, chunk: int = DEFAULT_CHUNK
) -> Neighbours:
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
    The search is exact and keeps every character n-gram: a few queries against a corpus cost one sparse
    product, and the words that make a ticket evidence for an item are often common in the corpus (a
    spike of tickets about one topic), which the large-corpus shortcuts of `nearest` would lose.
    """
    if not queries or not corpus or k < 1:
        return [[] for _ in queries]
    matrix = vectorize([*queries, *corpus], drop_common_chars=False)
    n_q = len(queries)
    idx, scores = top_k_arrays(matrix[:n_q], matrix[n_q:], k, exact=True)
    return _to_lists(idx, scores, min_score)


# Duplicate-report search (nearest_titled): weights of the signals, measured on real duplicate bug reports
# by bench/match_quality.py. BM25 over title + body finds reports that share rare words, the character
# n-gram TF-IDF of `vectorize` catches inflections and typos, a small latent semantic space fitted on the
# corpus itself (LSA) rewards reports that use related words without sharing them. With the pretrained
# sentence model installed (embedding.py), the cosines of the title embeddings and of the report
# embeddings (title + start of the body) join in: they know that "crash" and "hang on exit" are close.
TITLED_WEIGHTS = {"bm25": 0.4, "chars": 0.3, "latent": 0.3}
TITLED_WEIGHTS_DENSE = {"bm25": 0.4, "chars": 0.3, "latent": 0.3, "title_emb": 0.3, "text_emb": 0.7}
TITLE_REPEAT = 3.0  # a title word counts as often as this many body words
BM25_K1, BM25_B = 1.2, 0.75
LATENT_DIMS = 150
RERANK_POOL = 100
# Hubness correction of the fused score (see fuse): weight, and how many neighbours define a crowd.
HUB_PENALTY = 0.7
HUB_NEIGHBOURS = 10
TITLE_TOKENS = 48  # word pieces of a title the sentence model reads
TEXT_TOKENS = 64  # word pieces of title + body the sentence model reads


def bm25_matrix(titles: Sequence[str], bodies: Sequence[str]) -> sparse.csr_matrix:
    """L2-normalised BM25 weights per text: term frequency saturates (k1) and is normalised by length
    (b), title words count TITLE_REPEAT times, idf is BM25's. Cosine of these rows is a symmetric BM25."""
    from sklearn.feature_extraction.text import CountVectorizer

    stop = _stop_words()
    title_tokens = [_tokens(t or "", stop) for t in titles]
    body_tokens = [_tokens(b or "", stop) for b in bodies]
    vectorizer = CountVectorizer(analyzer=_identity, dtype=np.float32)
    try:
        vectorizer.fit([t + b for t, b in zip(title_tokens, body_tokens, strict=True)])
    except ValueError:
        return sparse.csr_matrix((len(titles), 1), dtype=np.float32)
    tf = sparse.csr_matrix(
        vectorizer.transform(title_tokens) * np.float32(TITLE_REPEAT) + vectorizer.transform(body_tokens)
    )
    n = tf.shape[0]
    length = np.asarray(tf.sum(axis=1)).ravel()
    df = np.bincount(tf.indices, minlength=tf.shape[1])
    idf = np.log((n - df + 0.5) / (df + 0.5) + 1.0).astype(np.float32)
    rows = np.repeat(np.arange(n), np.diff(tf.indptr))
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length[rows] / max(float(length.mean()), 1e-9))
    tf.data = (tf.data * (BM25_K1 + 1) / (tf.data + norm) * idf[tf.indices]).astype(np.float32)
    return _normalise(tf)


def _latent(matrix: sparse.csr_matrix, dims: int = LATENT_DIMS) -> np.ndarray:
    """Rows projected on the corpus' own top singular vectors (LSA), L2-normalised."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    dims = min(dims, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if dims < 2:
        return np.zeros((matrix.shape[0], 1), dtype=np.float32)
    z = TruncatedSVD(dims, random_state=0).fit_transform(matrix)
    return normalize(z).astype(np.float32)


def _pair_cosines(matrix: sparse.csr_matrix, cand: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Cosine of each row with each of its candidates (rows L2-normalised): `cand` is (n, pool)."""
    n, pool = cand.shape
    out = np.zeros(cand.shape, dtype=np.float32)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        left = matrix[np.repeat(np.arange(lo, hi), pool)]
        right = matrix[cand[lo:hi].ravel()]
        out[lo:hi] = np.asarray(left.multiply(right).sum(axis=1), dtype=np.float32).reshape(hi - lo, pool)
    return out


def _dense_cosines(vectors: np.ndarray, cand: np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    out = np.zeros(cand.shape, dtype=np.float32)
    for lo in range(0, cand.shape[0], chunk):  # chunks bound the gathered (rows x pool x dims) block
        hi = min(lo + chunk, cand.shape[0])
        out[lo:hi] = np.einsum("ij,ikj->ik", vectors[lo:hi], vectors[cand[lo:hi]])
    return np.clip(out, 0.0, 1.0)


def _dense_top(vectors: np.ndarray, k: int, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Indices of each row's k nearest other rows by dot product, exact, in (chunk x n) blocks."""
    n = vectors.shape[0]
    out = np.zeros((n, k), dtype=np.int64)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        sims = vectors[lo:hi] @ vectors.T
        sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        out[lo:hi] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return out


def _merge_candidates(*pools: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of several (n, pool) candidate arrays per row: (candidates, valid), duplicates masked."""
    merged = np.sort(np.concatenate(pools, axis=1), axis=1)
    valid = np.ones(merged.shape, dtype=bool)
    valid[:, 1:] = merged[:, 1:] != merged[:, :-1]
    return merged, valid


def titled_signals(
    titles: Sequence[str], bodies: Sequence[str], *, dense: bool | None = None, pool: int = RERANK_POOL
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Candidates and the score of each signal for each (report, candidate) pair.

    Returns (cand, valid, signals): `cand` (n, m) candidate indices, `valid` marks real candidates (a
    row's merged pool may hold padding), `signals` one (n, m) array of scores in [0, 1] per signal name
    of TITLED_WEIGHTS(_DENSE). Candidates: each report's best `pool` by the sparse search over BM25 and
    character n-grams (stacked so that one dot product is their weighted sum), and, with the sentence
    model, its best `pool` by report embedding; every signal is then computed exactly for all of them.
    `dense=None` uses the model when it is installed.
    """
    from . import embedding

    n = len(titles)
    use_dense = embedding.available() if dense is None else dense
    bm25 = bm25_matrix(titles, bodies)
    chars = vectorize([f"{t}\n{b}" for t, b in zip(titles, bodies, strict=True)])
    w = TITLED_WEIGHTS
    stacked = sparse.hstack(
        [bm25 * np.float32(np.sqrt(w["bm25"])), chars * np.float32(np.sqrt(w["chars"]))],
        format="csr",
        dtype=np.float32,
    )
    pool = min(n - 1, pool)
    cand, scores = top_k_arrays(stacked, stacked, pool, exclude_self=True)
    pools = [np.where(scores > 0, cand, -1)]
    vectors: dict[str, np.ndarray] = {}
    if use_dense:
        vectors["title_emb"] = embedding.embed([t or "" for t in titles], TITLE_TOKENS)
        vectors["text_emb"] = embedding.embed(
            [f"{t}\n\n{b}" for t, b in zip(titles, bodies, strict=True)], TEXT_TOKENS
        )
        pools.append(_dense_top(vectors["text_emb"], pool))
    cand, valid = _merge_candidates(*pools)
    valid &= cand >= 0
    cand = np.where(valid, cand, 0)
    signals = {
        "bm25": np.clip(_pair_cosines(bm25, cand), 0.0, 1.0),
        "chars": np.clip(_pair_cosines(chars, cand), 0.0, 1.0),
        "latent": _dense_cosines(_latent(bm25), cand),
    }
    for name, matrix in vectors.items():
        signals[name] = _dense_cosines(matrix, cand)
    return cand, valid, signals


def fuse(
    cand: np.ndarray,
    valid: np.ndarray,
    signals: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    k: int,
    hub_penalty: float = HUB_PENALTY,
) -> Neighbours:
    """Each row's k best candidates by the weighted mean of the signals, less a hub penalty, best first.

    Some reports are close to everything (long logs, generic titles): they crowd every list. As in
    CSLS, candidate j is ranked by its fused score less `hub_penalty` x r_j, where r_j is the mean fused
    score of j's own HUB_NEIGHBOURS best candidates. The score given with each neighbour is the fused
    similarity itself (in [0, 1], before the correction), so it can be compared across rows; candidates
    with a fused score of 0 are left out.
    """
    total = sum(weights[name] for name in signals if name in weights) or 1.0
    fused = np.zeros(cand.shape, dtype=np.float32)
    for name, scores in signals.items():
        if name in weights:
            fused += np.float32(weights[name] / total) * scores
    fused = np.where(valid, np.clip(fused, 0.0, 1.0), 0.0).astype(np.float32)
    rank_by = fused
    if hub_penalty:
        top = min(HUB_NEIGHBOURS, cand.shape[1])
        crowd = (-np.partition(-fused, top - 1, axis=1)[:, :top]).mean(axis=1).astype(np.float32)
        rank_by = fused - np.float32(hub_penalty) * crowd[cand]
    rank_by = np.where(fused > 0, rank_by, -np.inf)
    order = np.argsort(-rank_by, axis=1, kind="stable")[:, :k]
    idx = np.take_along_axis(cand, order, axis=1).tolist()
    scores = np.round(np.take_along_axis(fused, order, axis=1).astype(np.float64), 6).tolist()
    return [
        [(j, score) for j, score in zip(row_idx, row_scores, strict=True) if score > 0]
        for row_idx, row_scores in zip(idx, scores, strict=True)
    ]


def nearest_titled(
    titles: Sequence[str], bodies: Sequence[str], k: int, *, dense: bool | None = None
) -> Neighbours:
    """For each report (title + body), its k most similar other reports, best first, score in [0, 1].

    The duplicate-report search (see titled_signals for the candidates and signals): the weighted mean
    of BM25, character n-grams and LSA (TITLED_WEIGHTS), plus the sentence model's title and report
    cosines when it is installed (TITLED_WEIGHTS_DENSE). `dense=False` leaves the model out.
    """
    n = len(titles)
    if k < 1 or n < 2:
        return [[] for _ in range(n)]
    cand, valid, signals = titled_signals(titles, bodies, dense=dense)
    weights = TITLED_WEIGHTS_DENSE if "text_emb" in signals else TITLED_WEIGHTS
    return fuse(cand, valid, signals, weights, k)
