"""Competitor mention detection: whole words, aliases, any case, domains, and no hit inside other words."""

from __future__ import annotations

import pytest

from productops.competitors.detect import Matcher, Spec, snippet

ACME, GLOBEX = 1, 2
MATCHER = Matcher(
    [
        Spec(ACME, ["Acme", "Acme Cloud", "Road Runner"], ["acme.io"]),
        Spec(GLOBEX, ["Globex", "C++Builder"], []),
    ]
)


def found(text: str) -> dict[int, str]:
    return {h.competitor_id: h.matched for h in MATCHER.find(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Switching to ACME because export is slow", {ACME: "ACME"}),
        ("acme's pricing page", {ACME: "acme"}),
        ("(Acme) was cheaper.", {ACME: "Acme"}),
        ("we moved to Acme Cloud last year", {ACME: "Acme Cloud"}),  # the longer alias wins
        ("the road\nrunner app", {ACME: "road\nrunner"}),  # any whitespace inside an alias
        ("see https://app.acme.io/pricing", {ACME: "app.acme.io"}),
        ("mail me at sales@acme.io", {ACME: "acme"}),
        ("Globex and acme both", {ACME: "acme", GLOBEX: "Globex"}),
        ("We use C++Builder daily", {GLOBEX: "C++Builder"}),  # a term ending in punctuation
    ],
)
def test_finds_names_aliases_and_domains_in_any_case(text: str, expected: dict[int, str]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Acmetric dashboards are great",  # the name at the start of another word
        "our preacme setup",  # at the end of another word
        "acme_tools is a python package",  # joined by an underscore
        "Acme2 is a different product",  # followed by a digit
        "Globexcorp sent an invoice",
        "notacme.io is unrelated",  # a longer host name
        "Road Runners club",  # the alias inside a longer word
        "",
    ],
)
def test_no_false_hit_inside_other_words(text: str) -> None:
    assert found(text) == {}


def test_one_hit_per_competitor_per_text() -> None:
    hits = MATCHER.find("Acme, acme, ACME and Acme Cloud")
    assert [(h.competitor_id, h.matched) for h in hits] == [(ACME, "Acme")]


def test_no_competitors_matches_nothing() -> None:
    assert not Matcher([])
    assert Matcher([]).find("Acme") == []


def test_snippet_is_the_sentence_around_the_hit() -> None:
    text = "We love the app. Honestly switching to Acme because export is slow. Bye."
    hit = MATCHER.find(text)[0]
    assert snippet(text, hit.start, hit.end) == "Honestly switching to Acme because export is slow."
    long = "x " * 400 + "Acme " + "y " * 400
    hit = MATCHER.find(long)[0]
    cut = snippet(long, hit.start, hit.end)
    assert "Acme" in cut and len(cut) < 260 and cut.startswith("…") and cut.endswith("…")
