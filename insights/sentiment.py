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


# Words that name the support process rather than judge the product: "Support never answered" is a
# complaint, but VADER scores "support" (+1.7) and "please help" as warm words. In feedback they are
# neutral. ("urgent" is +0.8 in the lexicon; in a ticket it is a priority, not a compliment.)
DOMAIN_NEUTRAL = ("support", "help", "please", "urgent", "ticket")


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    for word in DOMAIN_NEUTRAL:
        analyzer.lexicon.pop(word, None)
    return analyzer


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Courtesy is not sentiment: a greeting at the start of a sentence ("Hey, the export is empty") and
# sentences made only of courtesy words ("Thanks!", "Cheers Sam Carter", "Any update would be great.")
# would otherwise pull every polite complaint toward positive.
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening))\b[^,.!?:]{0,30}[,!.:]\s*", re.IGNORECASE
)
_COURTESY_WORDS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "dear",
        "there",
        "team",
        "all",
        "folks",
        "good",
        "morning",
        "afternoon",
        "evening",
        "thanks",
        "thank",
        "thx",
        "ty",
        "you",
        "so",
        "much",
        "many",
        "cheers",
        "regards",
        "best",
        "kind",
        "warm",
        "please",
        "help",
        "in",
        "advance",
        "can",
        "could",
        "you",
        "any",
        "update",
        "updates",
        "would",
        "be",
        "great",
        "appreciated",
        "welcome",
        "hope",
        "looking",
        "forward",
        "to",
        "hearing",
        "from",
        "your",
        "reply",
    ]
)
_SIGN_OFF = re.compile(r"^(thanks|thank you|thx|cheers|regards|best|kind regards|sincerely)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z']+")


def _is_courtesy(sentence: str, last: bool) -> bool:
    words = _WORD.findall(sentence.lower())
    if not words:
        return False
    if all(w in _COURTESY_WORDS for w in words):
        return True
    # "Cheers Sam Carter, Bluefin SAS": a sign-off followed only by a name, at the end of the text.
    match = _SIGN_OFF.match(sentence.strip())
    if not last or match is None or len(words) > 8:
        return False
    rest = sentence.strip()[match.end() :].replace(",", " ").split()
    return all(token[:1].isupper() or token in {"&", "-"} for token in rest)


def sentences(text: str) -> list[str]:
    """The sentences of `text` that can carry sentiment: courtesy dropped, a leading greeting removed."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()] if text else []
    out = []
    for i, part in enumerate(parts):
        if _is_courtesy(part, last=i == len(parts) - 1):
            continue
        part = _GREETING.sub("", part).strip()
        if part:
            out.append(part)
    return out


def score(texts: Sequence[str], clean: bool = True) -> np.ndarray:
    """Sentiment per text in [-1, 1]; empty or purely courteous text is 0.

    Each sentence gets VADER's compound score, and a text's score is the mean of its sentences weighted
    by their own intensity (|score|). A plain mean would let neutral sentences dilute the one that
    carries the feeling: "Terrible!!! Support never answered. Ticket 4411." is as negative as
    "Terrible!!!", not a seventh of it. Mixed texts still balance: "Nice UI. Export is broken." sits
    between its two sentences, nearer the stronger one.

    Batches are cheap because support text repeats whole sentences: every distinct sentence in the batch
    is scored once.
    """
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    cleaned = [clean_text(t) if clean else " ".join((t or "").split()) for t in texts]
    parts_all: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(cleaned):
        parts = sentences(text)
        parts_all += parts
        owners += [i] * len(parts)
    if not parts_all:
        return np.zeros(n, dtype=np.float64)
    uniques, inverse = np.unique(np.asarray(parts_all, dtype=object), return_inverse=True)
    polarity = _analyzer().polarity_scores
    values = np.fromiter((polarity(t)["compound"] for t in uniques), dtype=np.float64, count=len(uniques))
    owner = np.asarray(owners, dtype=np.int64)
    per_sentence = values[inverse.reshape(-1)]
    weights = np.abs(per_sentence)
    totals = np.bincount(owner, weights=weights * per_sentence, minlength=n)
    mass = np.bincount(owner, weights=weights, minlength=n)
    means = np.divide(totals, mass, out=np.zeros(n, dtype=np.float64), where=mass > 0)
    return np.clip(means, -1.0, 1.0)
