"""Sentiment of feedback text in [-1, 1], offline.

VADER (vaderSentiment) ships its lexicon inside the package, so scoring needs no network and no model
download. Its compound score is already normalised to [-1, 1]. Ticket bodies are cleaned first: HTML,
quoted replies and signatures are someone else's words (or nobody's), and would drag every reply thread
toward the tone of the agent's canned sign-off.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_BLOCKQUOTE = re.compile(r"<blockquote\b.*?</blockquote\s*>", re.IGNORECASE | re.DOTALL)
_BR = re.compile(r"<\s*(br|/p|/div|/li)\s*/?>", re.IGNORECASE)
# Where a quoted earlier message starts: everything from here on is not the customer's new text.
_REPLY_HEADER = re.compile(
    r"^\s*(On .{0,200}wrote:|-{2,}\s*Original Message\s*-{2,}|From:\s.+|_{5,})\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# Where a signature starts: the RFC 3676 "-- " line, mobile footers and common sign-offs on their own line.
_SIGNATURE = re.compile(
    r"^\s*(--\s*|Sent from my .*|Get Outlook for .*|(Best|Kind|Warm)?\s*regards,?|Cheers,?|Thanks,?|"
    r"Thank you,?|Best,?|Sincerely,?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def clean_text(text: str) -> str:
    """Plain text of what the customer wrote: no HTML, no quoted replies, no signature."""
    if not text:
        return ""
    if "<" in text:
        text = _BLOCKQUOTE.sub("\n", text)
        text = _BR.sub("\n", text)
        text = _TAG.sub(" ", text)
    text = html.unescape(text)
    match = _REPLY_HEADER.search(text)
    if match:
        text = text[: match.start()]
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    text = "\n".join(lines)
    # A sign-off only counts as a signature when little text follows it (a name, a title, a phone).
    for match in _SIGNATURE.finditer(text):
        if len(text) - match.end() <= 200:
            text = text[: match.start()]
            break
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def score(texts: Sequence[str], clean: bool = True) -> np.ndarray:
    """Sentiment per text in [-1, 1]: the mean VADER compound score of its sentences; empty text is 0.

    Sentence-level scoring is what VADER's authors recommend for multi-sentence text, and it makes
    batches cheap: support text repeats whole sentences ("Please help.", canned openers), so every
    distinct sentence in the batch is scored once and the scores are averaged back per text.
    """
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    cleaned = [clean_text(t) if clean else " ".join((t or "").split()) for t in texts]
    sentences: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(cleaned):
        parts = [p for p in _SENTENCE_END.split(text) if p.strip()] if text else []
        sentences += parts
        owners += [i] * len(parts)
    if not sentences:
        return np.zeros(n, dtype=np.float64)
    uniques, inverse = np.unique(np.asarray(sentences, dtype=object), return_inverse=True)
    polarity = _analyzer().polarity_scores
    values = np.fromiter((polarity(t)["compound"] for t in uniques), dtype=np.float64, count=len(uniques))
    owner = np.asarray(owners, dtype=np.int64)
    totals = np.bincount(owner, weights=values[inverse.reshape(-1)], minlength=n)
    counts = np.bincount(owner, minlength=n)
    means = np.divide(totals, counts, out=np.zeros(n, dtype=np.float64), where=counts > 0)
    return np.clip(means, -1.0, 1.0)
