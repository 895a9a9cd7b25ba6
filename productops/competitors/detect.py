"""Finding competitors in free text: whole words, any alias, any case, and their domains.

One regular expression for all competitors, one named group per competitor, so a text is scanned
once however many competitors there are. A term matches only as a whole word: "Acme" is found in
"switching to ACME because", "acme's" and "(Acme)", never inside "Acmetric" or "preacme". Spaces inside
a term match any run of whitespace ("Foo  Bar" across a line break). A domain matches with or without
subdomains and a scheme (acme.io, www.acme.io, https://app.acme.io/pricing), never inside a longer
host name (notacme.io). Longer terms are tried first, so "Acme Cloud" wins over "Acme".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A term boundary: not preceded or followed by a letter, digit or underscore. \b alone would treat
# "Acme" in "Acme3" as a word start but not the end; lookarounds make both sides explicit and work for
# terms that start or end with punctuation ("C++", ".NET").
_BEFORE = r"(?<![\w])"
_AFTER = r"(?![\w])"
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


def _term_pattern(term: str) -> str:
    words = [re.escape(w) for w in term.split()]
    return _BEFORE + r"\s+".join(words) + _AFTER


def _domain_pattern(domain: str) -> str:
    clean = domain.strip().lower().removeprefix("https://").removeprefix("http://").strip("/")
    clean = clean.removeprefix("www.")
    # Preceded by start, whitespace, a scheme's "//", "@" or punctuation; never by a host character,
    # so "notacme.io" is not "acme.io". Subdomains are allowed explicitly.
    return r"(?<![\w.-])(?:[a-z0-9-]+\.)*" + re.escape(clean) + r"(?![\w-])(?!\.[a-z0-9])"


class Matcher:
    """Compiled once per set of competitors; `find(text)` returns one Hit per competitor found."""

    def __init__(self, specs: Iterable[Spec]) -> None:
        groups = []
        self.ids: dict[str, int] = {}
        for spec in specs:
            alternatives = sorted({t for t in spec.terms if t.strip()}, key=lambda t: (-len(t), t.lower()))
            patterns = [_term_pattern(t) for t in alternatives]
            patterns += [_domain_pattern(d) for d in spec.domains if d and "." in d]
            if not patterns:
                continue
            name = f"c{spec.competitor_id}"
            self.ids[name] = spec.competitor_id
            groups.append(f"(?P<{name}>{'|'.join(patterns)})")
        self.regex = re.compile("|".join(groups), re.IGNORECASE) if groups else None

    def __bool__(self) -> bool:
        return self.regex is not None

    def find(self, text: str) -> list[Hit]:
        """The first mention of each competitor in `text` (a text counts once per competitor)."""
        if self.regex is None or not text:
            return []
        hits: dict[int, Hit] = {}
        for m in self.regex.finditer(text):
            name = m.lastgroup
            if name is None:
                continue
            cid = self.ids[name]
            if cid not in hits:
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
