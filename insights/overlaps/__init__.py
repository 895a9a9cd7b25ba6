"""Cross-team overlaps: duplicate work, related work, conflicts and hidden dependencies.

Public, ORM-free API (reused by other insight families, e.g. feedback evidence linking):
- `nearest(texts, k)`: for each text, its k most similar other texts (sparse TF-IDF, cosine);
- `match(queries, corpus, k)`: link one set of texts to another;
- `find_overlaps(items)`: classified cross-team pairs with scores and explanations.
"""

from .detect import Kind, Overlap, OverlapItem, find_overlaps
from .similarity import match, nearest

__all__ = ["Kind", "Overlap", "OverlapItem", "find_overlaps", "match", "nearest"]
