"""Finding competitors in free text: whole words, any alias, any case, and their domains.

One regular expression for all competitors (their terms as a prefix trie), so a text is scanned once
however many competitors and aliases there are. A term matches only as a whole word: "Acme" is found in
"switching to ACME because", "acme's" and "(Acme)", never inside "Acmetric" or "preacme". Spaces inside
a term match any run of whitespace ("Foo  Bar" across a line break). A domain matches with or without
subdomains and a scheme (acme.io, www.acme.io, https://app.acme.io/pricing), never inside a longer
host name (notacme.io). Longer terms are tried first, so "Acme Cloud" wins over "Acme".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Spec:
    """What to look for, for one competitor (built from a Competitor row, or by hand in tests)."""

    competitor_id: int
    terms: Sequence[str]
    domains: Sequence[str] = ()


@dataclass(frozen=True)
class Hit:
    competitor_id: int
    matched: str
    start: int
    end: int


def _trie_pattern(keys: Iterable[Sequence[str]]) -> str:
    """One regex alternation for many literal keys, as a prefix trie (each key is a sequence of regex
    atoms). Python's regex engine tries alternatives one by one at each position; a trie makes that one
    character test per position, and gives the pattern a first-character set the engine scans for."""
    trie: dict[str, Any] = {}
    for key in keys:
        node = trie
        for atom in key:
            node = node.setdefault(atom, {})
        node[""] = {}  # end of a key

    def emit(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [atom + emit(child) for atom, child in sorted(node.items()) if atom]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and not ends else "(?:" + "|".join(branches) + ")"
        return body + "?" if ends else body

    return emit(trie)


def _term_atoms(term: str) -> list[str]:
    """A term as regex atoms: letters lower-cased (the match ignores case), runs of spaces as any whitespace."""
    atoms: list[str] = []
    for i, word in enumerate(term.lower().split()):
        if i:
            atoms.append(r"\s+")
        atoms += [re.escape(ch) for ch in word]
    return atoms


def _clean_domain(domain: str) -> str:
    clean = domain.strip().lower().removeprefix("https://").removeprefix("http://").strip("/")
    return clean.removeprefix("www.")


class Matcher:
    """Compiled once per set of competitors; `find(text)` returns one Hit per competitor found.

    Terms (names and aliases) and domains go into one regular expression each as a prefix trie; a hit
    is mapped back to its competitor by its normalised text (lower case, single spaces) or, for a
    domain, by the registered domain it ends with.
    """

    def __init__(self, specs: Iterable[Spec]) -> None:
        self.terms: dict[str, int] = {}
        self.domains: dict[str, int] = {}
        for spec in specs:
            for term in spec.terms:
                key = " ".join(term.lower().split())
                if key:
                    self.terms.setdefault(key, spec.competitor_id)
            for domain in spec.domains:
                clean = _clean_domain(domain)
                if "." in clean:
                    self.domains.setdefault(clean, spec.competitor_id)
        parts = []
        if self.terms:
            # Whole words: not preceded or followed by a letter, digit or underscore. Lookarounds rather
            # than \b, so terms that start or end with punctuation ("C++") work too.
            trie = _trie_pattern(_term_atoms(t) for t in self.terms)
            parts.append(rf"(?P<t>(?<!\w){trie}(?!\w))")
        if self.domains:
            # Preceded by nothing that belongs to a host name (so "notacme.io" is not "acme.io"),
            # subdomains allowed, and not continued by more host name ("acme.io.evil.com").
            trie = _trie_pattern([re.escape(ch) for ch in d] for d in self.domains)
            parts.append(rf"(?P<d>(?<![\w.-])(?:[a-z0-9-]+\.)*{trie}(?![\w-])(?!\.[a-z0-9]))")
        self.regex = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def __bool__(self) -> bool:
        return self.regex is not None

    def _competitor(self, m: re.Match[str]) -> int | None:
        text = m.group(0).lower()
        if m.lastgroup == "t":
            return self.terms.get(" ".join(text.split()))
        for domain, cid in self.domains.items():
            if text == domain or text.endswith("." + domain):
                return cid
        return None

    def find(self, text: str) -> list[Hit]:
        """The first mention of each competitor in `text` (a text counts once per competitor)."""
        if self.regex is None or not text:
            return []
        hits: dict[int, Hit] = {}
        for m in self.regex.finditer(text):
            cid = self._competitor(m)
            if cid is not None and cid not in hits:
                hits[cid] = Hit(cid, m.group(0), m.start(), m.end())
        return list(hits.values())


def snippet(text: str, start: int, end: int, width: int = SNIPPET_CHARS) -> str:
    """The sentence around a hit, cut to about `width` characters, with an ellipsis where cut."""
    left = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start))
    lo = left + 2 if left >= 0 else 0
    right_candidates = [i for i in (text.find(". ", end), text.find("\n", end)) if i >= 0]
    hi = min(right_candidates) + 1 if right_candidates else len(text)
    if hi - lo > width:
        half = width // 2
        lo, hi = max(lo, start - half), min(hi, end + half)
    out = " ".join(text[lo:hi].split())
    prefix = "…" if lo > 0 and text[lo - 1] not in ".\n" and left + 2 != lo else ""
    suffix = "…" if hi < len(text) and text[hi - 1] not in ".\n" else ""
    return f"{prefix}{out}{suffix}"
