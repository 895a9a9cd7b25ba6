"""The portfolio page, the item page with customer evidence, and the PM actions on overlaps."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from insights.overlaps.evidence import customer_evidence
from insights.overlaps.models import Decision, OverlapPair
from insights.overlaps.services import compute_overlaps
from productops.portfolio.models import Dependency
from productops.signals.models import Mention, NpsResponse, SupportTicket

from .test_overlap_services import _pair, portfolio  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _charts(html: str) -> dict[str, Any]:
    return {
        m.group(1): json.loads(m.group(2))
        for m in re.finditer(r'<script id="([\w-]+)-data" type="application/json">(.*?)</script>', html, re.S)
    }


def test_empty_portfolio_page_has_empty_states(pm_client: Client) -> None:
    response = pm_client.get(reverse("overlaps:portfolio"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No overlaps between teams" in html and "No dated items" in html and "No overlaps match" in html


def test_portfolio_page_lists_overlaps_with_matrix_timeline_and_filters(
    pm_client: Client,
    portfolio: dict[str, Any],  # noqa: F811
) -> None:
    compute_overlaps()
    items = portfolio["items"]
    Dependency.objects.create(from_item=items["PAY-4"], to_item=items["MOB-10"])
    url = reverse("overlaps:portfolio")
    html = pm_client.get(url).content.decode()
    assert (
        "Export invoices as CSV for finance" in html and "CSV export of invoices for the finance team" in html
    )
    assert "https://tracker.example.com/PAY-1" in html and "shared terms" in html
    charts = [fig for fig in _charts(html).values()]
    heatmap = next(f for f in charts if f["data"][0]["type"] == "heatmap")
    assert "/portfolio/?" in heatmap["data"][0]["customdata"][0][1]  # a cell links to the filtered list
    timeline = next(f for f in charts if f["data"][0]["type"] == "bar")
    assert any(t.get("name") == "Cross-team dependency" for t in timeline["data"])
    # Clicking the Payments x Growth cell: only that pair of teams.
    teams = portfolio["teams"]
    html = pm_client.get(url, {"team_a": teams["payments"].pk, "team_b": teams["growth"].pk}).content.decode()
    listed = html.split('id="overlaps"')[1]
    assert "Export invoices as CSV for finance" in listed and "Onboarding carousel" not in listed
    # Filters live in the query string.
    html = pm_client.get(url, {"kind": "conflict"}).content.decode()
    assert "Onboarding carousel" in html and "Export invoices as CSV" not in html.split('id="overlaps"')[1]


def test_pm_actions_dismiss_confirm_link(pm_client: Client, portfolio: dict[str, Any]) -> None:  # noqa: F811
    compute_overlaps()
    items = portfolio["items"]
    dup = _pair(items, "PAY-1", "GRO-7")
    response = pm_client.post(reverse("overlaps:action", args=[dup.pk, "dismiss"]), {"next": "/portfolio/"})
    assert response.status_code == 302 and response["Location"] == "/portfolio/"
    dup.refresh_from_db()
    assert dup.decision == Decision.DISMISSED and dup.snapshot_a
    html = pm_client.get(reverse("overlaps:portfolio")).content.decode()
    assert "Export invoices as CSV for finance" not in html.split('id="overlaps"')[1]
    hidden = _pair(items, "MOB-9", "PLAT-42")
    pm_client.post(reverse("overlaps:action", args=[hidden.pk, "link"]))
    assert Dependency.objects.filter(from_item=items["MOB-9"], to_item=items["PLAT-42"]).exists()
    # GET is not an action; an open redirect is refused.
    assert pm_client.get(reverse("overlaps:action", args=[hidden.pk, "confirm"])).status_code == 405
    evil = pm_client.post(
        reverse("overlaps:action", args=[hidden.pk, "confirm"]), {"next": "https://evil.example"}
    )
    assert evil["Location"] == reverse("overlaps:portfolio")
    experiments = OverlapPair.objects.get(experiment_a__isnull=False)
    pm_client.post(reverse("overlaps:action", args=[experiments.pk, "link"]))
    experiments.refresh_from_db()
    assert experiments.decision == Decision.OPEN  # experiments cannot be linked; the PM is told why


def test_item_page_shows_matching_customer_evidence(pm_client: Client, portfolio: dict[str, Any]) -> None:  # noqa: F811
    product = portfolio["product"]
    item = portfolio["items"]["PAY-1"]
    now = timezone.now()
    for n in range(6):
        SupportTicket.objects.create(
            external_id=f"t{n}",
            product=product,
            subject="CSV export of invoices missing tax lines",
            body_text="Finance cannot export invoices to CSV.",
            opened_at=now - timedelta(days=3 * n),
        )
    SupportTicket.objects.create(
        external_id="other",
        product=product,
        subject="Dark mode on mobile please",
        opened_at=now - timedelta(days=1),
    )
    NpsResponse.objects.create(
        external_id="n1",
        product=product,
        score=3,
        comment="I need an invoice export to CSV",
        submitted_at=now - timedelta(days=2),
    )
    Mention.objects.create(
        external_id="m1",
        product=product,
        platform="reddit",
        title="Invoice CSV export?",
        text="Anyone know how to export invoices as CSV?",
        posted_at=now - timedelta(days=5),
        url="https://reddit.example/r/1",
    )
    evidence = customer_evidence(item)
    assert evidence.counts == {"tickets": 6, "nps": 1, "mentions": 1, "research": 0}
    assert int(evidence.weekly.to_numpy().sum()) == 8
    html = pm_client.get(reverse("overlaps:item", args=[item.pk])).content.decode()
    assert "CSV export of invoices missing tax lines" in html and "Dark mode on mobile" not in html
    assert "Matching feedback per week" in html and "Overlaps with other teams" in html
