"""Themes from synthetic feedback: found, labelled, stable across recomputes, editable, linked."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from insights.feedback import selectors, services
from insights.feedback.models import EvidenceLink, LinkStatus, Theme, ThemeMember, ThemeStatus
from insights.feedback.themes import find_themes, trim_label
from insights.models import Insight
from productops.signals.models import SupportTicket

from .factories import TOPICS, make_item, make_product, make_tickets


def _theme_for(*words: str) -> Theme:
    matches = [
        t for t in Theme.objects.filter(status=ThemeStatus.ACTIVE) if any(w in t.label.lower() for w in words)
    ]
    assert matches, f"no active theme mentions {words!r}: {[t.label for t in Theme.objects.all()]}"
    return max(matches, key=lambda t: t.size)


def test_find_themes_separates_topics_without_db() -> None:
    texts = [f"{p} number {i}" for i in range(12) for phrases in TOPICS.values() for p in phrases]
    clusters = find_themes(texts, n_themes=3)
    assert len(clusters) == 3
    words = " ".join(c.label for c in clusters).lower()
    for word in ("export", "login", "dark"):
        assert word in words
    assert (
        trim_label("Basically: the billing export fails, since Monday.")
        == "The billing export fails, since Monday"
    )
    # Real feedback rarely repeats a sentence: the label is then the most central member sentence.
    unique = [
        *(f"The CSV export of invoice batch {w} fails with a timeout" for w in ("alpha", "beta", "gamma")),
        *(f"Exporting invoices to CSV for {w} breaks every time" for w in ("March", "April", "May")),
        *(f"I can't log in after the password reset, browser {w}" for w in ("Chrome", "Edge", "Opera")),
        *(
            f"The login page rejects my password since the reset on {w}"
            for w in ("Monday", "Friday", "Sunday")
        ),
    ]
    labelled = find_themes(unique, n_themes=2, min_size=2)
    assert len(labelled) == 2
    for cluster in labelled:
        assert " · " not in cluster.label and cluster.label.rstrip("?") in {trim_label(t) for t in unique}
    assert trim_label("Honest question: is Pulse underrated?") == "Is Pulse underrated?"
    assert trim_label("Ratio: 3:1") == "Ratio: 3:1"
    assert trim_label("guests shouldn\u2019t be able to edit!") == "Guests shouldn't be able to edit"
    long = "When I open the board on my laptop, every sticky note takes a second to move around"
    assert trim_label(long) == "When I open the board on my laptop"


@pytest.mark.django_db
def test_recompute_scores_sentiment_builds_themes_and_keeps_ids() -> None:
    product = make_product()
    make_tickets(product)
    services.recompute_feedback(full=True)
    assert not SupportTicket.objects.filter(sentiment__isnull=True).exists()
    export = _theme_for("export")
    assert export.size >= 20
    assert export.sentiment is not None and export.sentiment < 0.2
    services.rename_theme(export, "Billing exports")
    ids_before = set(Theme.objects.filter(status=ThemeStatus.ACTIVE).values_list("pk", flat=True))

    services.recompute_feedback(full=False)
    ids_after = set(Theme.objects.filter(status=ThemeStatus.ACTIVE).values_list("pk", flat=True))
    assert ids_after == ids_before
    export.refresh_from_db()
    assert export.name == "Billing exports"
    assert export.members.count() >= 20


@pytest.mark.django_db
def test_ids_survive_new_data() -> None:
    product = make_product()
    make_tickets(product, seed=1)
    services.recompute_themes()
    login = _theme_for("login", "password")
    # More feedback arrives (different wording mix); the login theme keeps its id.
    rows = [
        SupportTicket(
            product=product,
            source_key="test2",
            external_id=f"x{i}",
            subject=f"password reset email never arrives {i}",
            opened_at=t.opened_at,
        )
        for i, t in enumerate(SupportTicket.objects.all()[:15])
    ]
    SupportTicket.objects.bulk_create(rows)
    services.recompute_themes()
    assert _theme_for("login", "password").pk == login.pk


@pytest.mark.django_db
def test_merge_survives_recompute_and_split_pins_members() -> None:
    product = make_product()
    make_tickets(product)
    services.recompute_themes(n_themes=3)
    export, dark = _theme_for("export"), _theme_for("dark")
    services.merge_themes(export, [dark])
    dark.refresh_from_db()
    assert dark.status == ThemeStatus.MERGED and dark.merged_into_id == export.pk
    services.recompute_themes(n_themes=3)
    dark.refresh_from_db()
    assert dark.status == ThemeStatus.MERGED
    export.refresh_from_db()
    assert export.status == ThemeStatus.ACTIVE
    # The dark-mode tickets come back to the merged theme, not to a new one.
    assert (
        not Theme.objects.filter(status=ThemeStatus.ACTIVE, label__icontains="dark")
        .exclude(pk=export.pk)
        .exists()
    )

    children = services.split_theme(export)
    assert len(children) == 2
    assert ThemeMember.objects.filter(theme__in=children, pinned=True).count() == export.size
    services.recompute_themes(n_themes=3)
    for child in children:
        child.refresh_from_db()
        assert child.status == ThemeStatus.ACTIVE and child.members.count() > 0


@pytest.mark.django_db
def test_theme_volume_frame_and_spike_insight() -> None:
    product = make_product()
    make_tickets(product, per_topic=40, spike_topic="export", spike_extra=45)
    services.recompute_feedback()
    export = _theme_for("export")
    frame = selectors.theme_volume_frame()
    assert list(frame.columns) == ["series_id", "ts", "value"]
    series = frame[frame["series_id"] == f"theme:{export.pk}"].set_index("ts")["value"]
    assert (pd.Series(series.index).dt.day_of_week == 0).all()  # weeks start on Monday
    assert series.iloc[-1] == series.max() and series.iloc[-1] >= 40  # the spike is the last week
    assert series.sum() == export.size
    insight = Insight.objects.get(kind="theme")
    assert insight.payload["theme_id"] == export.pk and insight.payload["quotes"]


@pytest.mark.django_db
def test_evidence_links_and_pm_decisions_survive(pm_user: Any) -> None:
    product = make_product()
    make_tickets(product)
    item = make_item(
        product, "PROJ-1", "Fix billing export failures", "CSV and invoice export fails or times out"
    )
    make_item(product, "PROJ-2", "Onboarding checklist", "A checklist for new workspaces")
    services.recompute_feedback()
    export = _theme_for("export")
    link = EvidenceLink.objects.get(theme=export, item=item)
    assert not EvidenceLink.objects.filter(theme=export, item__external_id="PROJ-2").exists()
    services.decide_link(link, False, pm_user)
    services.recompute_feedback()
    link.refresh_from_db()
    assert link.status == LinkStatus.REJECTED and link.decided_by == pm_user
    evidence = selectors.item_evidence(item.pk)
    assert evidence["total"] == 0  # a rejected link is not evidence
    services.decide_link(link, True, pm_user)
    evidence = selectors.item_evidence(item.pk)
    assert evidence["counts"]["ticket"] == export.size and evidence["quotes"]
    # The quotes shown for the item are the ones that read most like it.
    assert all(("export" in q["quote"].lower()) for q in evidence["quotes"])


@pytest.mark.django_db
def test_sentiment_aggregates_per_product_theme_and_week() -> None:
    product = make_product()
    make_tickets(product)
    services.recompute_feedback()
    export = _theme_for("export")
    frame = selectors.sentiment_weekly_frame(theme_ids=[export.pk])
    ids = set(frame["series_id"])
    assert ids == {"sentiment:acme", f"theme:{export.pk}:sentiment"}
    assert frame["value"].between(-1, 1).all()
    theme_weeks = frame[frame["series_id"] == f"theme:{export.pk}:sentiment"]
    members = pd.DataFrame(list(export.members.values_list("ts", "sentiment")), columns=["ts", "s"])
    members["week"] = selectors._week_floor(members["ts"])
    expected = members.groupby("week")["s"].mean()
    assert theme_weeks.set_index("ts")["value"].to_dict() == pytest.approx(expected.to_dict())
