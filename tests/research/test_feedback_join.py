"""Research highlights join the feedback pipeline: sentiment, themes beside tickets (source "research"),
and evidence for portfolio items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from insights.feedback.models import ThemeMember
from insights.feedback.services import recompute_feedback
from insights.overlaps.evidence import customer_evidence
from productops.portfolio.models import PortfolioItem, Product
from productops.research.models import Highlight, Study
from productops.signals.models import SupportTicket

END = datetime(2026, 11, 20, tzinfo=UTC)
EXPORT = [
    "The billing export times out with thousands of invoices",
    "Billing export is slow and times out at month end",
    "Export of invoices to CSV times out every month end",
]
INVITES = [
    "Could not find where to invite teammates to the workspace",
    "Inviting teammates is hidden, the invite button is hard to find",
    "The invite email to teammates looks like spam",
]


@pytest.mark.django_db
def test_highlights_get_sentiment_themes_and_count_as_evidence() -> None:
    ledger = Product.objects.create(name="Ledger", slug="ledger")
    study = Study.objects.create(external_id="s", title="Export test", product=ledger)
    for i in range(30):
        text = (EXPORT if i % 2 else INVITES)[i % 3]
        SupportTicket.objects.create(
            external_id=f"t{i}",
            product=ledger,
            subject=text,
            body_text=text,
            status="open",
            opened_at=END - timedelta(days=i),
        )
    quotes = [
        "I hate that the billing export times out at month end, it is awful",
        "The invoices export to CSV is slow and times out",
        "I love the new dashboard, it is great",
    ]
    for i, quote in enumerate(quotes):
        Highlight.objects.create(
            study=study,
            external_id=f"h{i}",
            quote=quote,
            segment="Finance",
            created_at=END - timedelta(days=i),
        )
    item = PortfolioItem.objects.create(
        source_key="manual",
        external_id="EPIC-1",
        kind="epic",
        title="Fast billing export",
        description="Make the invoices billing export fast; no more time outs at month end",
        product=ledger,
    )

    recompute_feedback(product_ids=[ledger.pk])

    scores = dict(Highlight.objects.values_list("external_id", "sentiment"))
    assert all(v is not None for v in scores.values())
    assert scores["h0"] < 0 < scores["h2"]
    members = ThemeMember.objects.filter(source="research")
    assert members.exists()
    export_member = members.get(object_id=Highlight.objects.get(external_id="h0").pk)
    # It shares its theme with the export tickets, and keeps the participant's segment.
    assert ThemeMember.objects.filter(theme=export_member.theme, source="ticket").exists()
    assert export_member.segment == {"segment": "Finance"}
    evidence = customer_evidence(item)
    assert evidence.counts["research"] >= 1 and evidence.counts["tickets"] >= 1
    research_rows = [r for r in evidence.rows if r.source == "research"]
    assert all(r.url == f"/research/studies/{study.pk}/" for r in research_rows)
