"""Sentiment on a small labelled set of support-style sentences (sign asserted), and text cleaning."""

from __future__ import annotations

import numpy as np
import pytest

from insights.sentiment import clean_text, score

POSITIVE = [
    "Thanks so much, the new dashboard is fantastic and saves me hours every week.",
    "Support was quick and friendly, problem solved in minutes. Great job!",
    "I love the dark mode, it looks beautiful.",
    "The export works perfectly now, really happy with the fix.",
]
NEGATIVE = [
    "The billing export fails every time and I am losing customers.",
    "This is terrible, the app crashes whenever I open the report.",
    "Still waiting for an answer after five days, very disappointed.",
    "Login is broken again and nobody responds. Awful experience.",
]
NEUTRAL = [
    "How do I change the email address on my account?",
    "Please send the invoice for October to the finance team.",
    "Where can I find the API documentation for webhooks?",
]
# Mixed: VADER weighs the clause after "but" more, as a reader would; labelled by that clause.
MIXED = [
    ("The interface is nice but the sync keeps failing and we lose data.", -1),
    ("The first release was buggy, but the latest update is excellent.", 1),
]


def test_signs_on_labelled_set() -> None:
    pos, neg, neu = score(POSITIVE), score(NEGATIVE), score(NEUTRAL)
    assert (pos > 0.3).all(), pos
    assert (neg < -0.3).all(), neg
    # VADER scores politeness ("please") mildly positive (0.32 here), so "neutral" is |score| < 0.35.
    assert (np.abs(neu) < 0.35).all(), neu
    mixed = score([t for t, _ in MIXED])
    assert np.sign(mixed).tolist() == [s for _, s in MIXED], mixed


def test_score_is_vectorised_bounded_and_handles_empty() -> None:
    texts = [*POSITIVE, "", *NEGATIVE, POSITIVE[0]]
    values = score(texts)
    assert values.shape == (len(texts),)
    assert ((values >= -1) & (values <= 1)).all()
    assert values[len(POSITIVE)] == 0.0
    assert values[-1] == pytest.approx(values[0])
    assert score([]).shape == (0,)


def test_clean_text_strips_html_quotes_and_signature() -> None:
    body = (
        "<p>Hi,</p><p>The CSV export is <b>broken</b> again.</p>"
        "<blockquote>We are sorry to hear that! Happy to help.</blockquote>"
        "<p>Best regards,<br>Jane Doe<br>Acme Inc.</p>"
    )
    assert clean_text(body) == "Hi, The CSV export is broken again."
    plain = (
        "Export still fails.\n\nOn Mon, 3 Nov 2026 at 10:00, Support <help@x.io> wrote:\n"
        "> Great news, fixed!\n"
    )
    assert clean_text(plain) == "Export still fails."
    sig = "Cannot log in since yesterday.\n-- \nJohn Smith | Head of Ops | +1 555 0100"
    assert clean_text(sig) == "Cannot log in since yesterday."
    assert clean_text("&lt;tag&gt; &amp; co") == "<tag> & co"


def test_cleaning_changes_the_score_of_a_cheerful_quoted_reply() -> None:
    raw = (
        "It still does not work, this is frustrating.\n\nOn Tue, Support wrote:\n"
        "> Great news! Wonderful, all fixed, enjoy!"
    )
    assert score([raw])[0] < 0 < score([raw], clean=False)[0]


# Short informal texts (tweets, chat, ticket subjects), mixed punctuation, with their expected sign.
SHORT = [
    ("Terrible!!!", -1),
    ("Terrible!!! Support never answered. Ticket 4411.", -1),
    ("ugh... crashed AGAIN. 3rd time today!!", -1),
    ("Still broken?!?! day 3", -1),
    ("love it!! works great :)", 1),
    ("thx, fixed now :) #4411", 1),
    ("Hey, where do I change my e-mail?? Thanks!", 0),
    ("Ticket 4411 -- any update?", 0),
]


def test_short_informal_texts_are_not_diluted_by_neutral_sentences() -> None:
    values = score([t for t, _ in SHORT])
    for (text, sign), value in zip(SHORT, values, strict=True):
        if sign == 0:
            assert abs(value) < 0.2, (text, value)
        else:
            assert np.sign(value) == sign and abs(value) > 0.3, (text, value)
    # Neutral sentences around a strong one do not water it down (a plain mean gave -0.07 vs -0.61).
    alone, padded = values[0], values[1]
    assert padded == pytest.approx(alone, abs=0.1)
    # Courtesy ("Hi", "Thanks!", "Cheers <name>") is not sentiment: a polite complaint stays negative.
    polite = score(["Hi team, the billing export fails every night. Thanks! Cheers Sam Carter, Acme"])[0]
    assert polite < -0.3, polite


def test_mixed_text_leans_to_its_stronger_sentence() -> None:
    mild_praise_strong_pain, strong_praise_mild_pain = score(
        [
            "The UI is ok. The export is completely broken and useless!!",
            "Absolutely love it!!! Export is a bit slow.",
        ]
    )
    assert mild_praise_strong_pain < -0.2 < 0.2 < strong_praise_mild_pain
