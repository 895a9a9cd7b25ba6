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
