"""Competitor mentions end to end on a small fixture: found in every source, stored once, rescanned
idempotently, spikes as insights, the pages and their drill-down, and who may configure what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from insights.kinds import target_url
from insights.models import Insight, InsightKind
from productops.competitors.models import BattleCardNote, Competitor, CompetitorMention
from productops.competitors.services import find_spikes, recompute_competitors, scan_mentions, weekly_counts
from productops.portfolio.models import Product, Team
from productops.research.models import Highlight, Study, StudyNote
from productops.signals.models import Mention, NpsResponse, SupportTicket

END = datetime(2026, 11, 22, 12, tzinfo=UTC)  # a Sunday


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    ledger = Product.objects.create(name="Ledger", slug="ledger")
    team = Team.objects.create(name="Payments", slug="payments")
    team.products.add(ledger)
    quill = Competitor.objects.create(
        name="Quillbooks", slug="quillbooks", aliases=["Quill Books"], domains=["quillbooks.com"]
    )
    boardly = Competitor.objects.create(name="Boardly", slug="boardly", aliases=["Boardly Pro"])
    ticket = SupportTicket.objects.create(
        external_id="t1",
        product=ledger,
        subject="Export is slow",
        body_text="We are switching to Quill Books because export is slow.",
        status="open",
        opened_at=END - timedelta(days=3),
    )
    decoy = SupportTicket.objects.create(
        external_id="t2",
        product=ledger,
        subject="Store",
        body_text="Bought it at the quillbookstore; Boardlyness is a word now.",
        status="open",
        opened_at=END - timedelta(days=3),
    )
    nps = NpsResponse.objects.create(
        external_id="n1", product=ledger, score=3, comment="QUILLBOOKS does this better", submitted_at=END
    )
    mention = Mention.objects.create(
        external_id="m1",
        product=ledger,
        platform="reddit",
        title="Boardly Pro vs Ledger",
        text="see https://www.quillbooks.com/pricing too",
        posted_at=END - timedelta(days=1),
    )
    study = Study.objects.create(external_id="s1", title="Billing", product=ledger, team=team)
    highlight = Highlight.objects.create(
        study=study, external_id="h1", quote="I'd rather use Boardly for this", created_at=END
    )
    note = StudyNote.objects.create(
        study=study, external_id="n1", title="Session", text="Mentioned quillbooks.com twice", created_at=END
    )
    return {
        "ledger": ledger,
        "team": team,
        "quill": quill,
        "boardly": boardly,
        "ticket": ticket,
        "decoy": decoy,
        "nps": nps,
        "mention": mention,
        "highlight": highlight,
        "note": note,
    }


def stored() -> set[tuple[str, str, int]]:
    return set(CompetitorMention.objects.values_list("competitor__slug", "source", "object_id"))


def test_mentions_found_in_every_source_with_aliases_and_domains(world: dict[str, Any]) -> None:
    assert scan_mentions() == 6
    w = world
    assert stored() == {
        ("quillbooks", "ticket", w["ticket"].pk),
        ("quillbooks", "nps", w["nps"].pk),
        ("quillbooks", "mention", w["mention"].pk),
        ("boardly", "mention", w["mention"].pk),
        ("boardly", "research", w["highlight"].pk),
        ("quillbooks", "research_note", w["note"].pk),
    }
    # The decoy ticket names neither competitor as a word.
    assert not CompetitorMention.objects.filter(object_id=w["decoy"].pk, source="ticket").exists()
    m = CompetitorMention.objects.get(source="ticket")
    assert m.matched == "Quill Books" and m.product_id == w["ledger"].pk
    assert m.snippet == "We are switching to Quill Books because export is slow."


def test_rescan_is_idempotent_and_follows_edits(world: dict[str, Any]) -> None:
    scan_mentions()
    first = stored()
    assert scan_mentions() == 6 and stored() == first and CompetitorMention.objects.count() == 6
    SupportTicket.objects.filter(pk=world["ticket"].pk).update(body_text="Export is slow.")
    scan_mentions(product_ids=[world["ledger"].pk])
    assert ("quillbooks", "ticket", world["ticket"].pk) not in stored()
    assert CompetitorMention.objects.count() == 5
    # A lead adds an alias: the next scan finds it.
    world["boardly"].aliases = ["Boardly Pro", "whiteboard"]
    world["boardly"].save()
    Mention.objects.filter(pk=world["mention"].pk).update(title="A whiteboard vs Ledger")
    scan_mentions()
    assert (
        CompetitorMention.objects.get(competitor=world["boardly"], source="mention").matched == "whiteboard"
    )


def _weekly_mentions(product: Product, per_week: list[int], text: str) -> None:
    start = datetime(2026, 11, 16, tzinfo=UTC) - timedelta(weeks=len(per_week) - 1)  # Mondays
    n = 0
    for w, count in enumerate(per_week):
        for i in range(count):
            n += 1
            Mention.objects.create(
                external_id=f"w{text[:5]}{n}",
                product=product,
                platform="reddit",
                text=text,
                posted_at=start + timedelta(weeks=w, hours=i),
            )


def test_a_planted_spike_becomes_an_insight_and_a_clean_series_does_not(world: dict[str, Any]) -> None:
    _weekly_mentions(world["ledger"], [2, 3, 2, 2, 3, 2, 2, 3, 2, 2, 14], "Trying Quillbooks now")
    _weekly_mentions(world["ledger"], [2, 2, 3, 2, 2, 3, 2, 2, 3, 2, 3], "Boardly looks nice")
    counts = recompute_competitors()
    assert counts["spikes"] == 1
    spike = Insight.objects.get(kind=InsightKind.COMPETITOR_SPIKE)
    assert spike.payload["slug"] == "quillbooks" and spike.payload["value"] >= 14
    assert "Quillbooks" in spike.title and spike.products.filter(pk=world["ledger"].pk).exists()
    assert spike.teams.filter(pk=world["team"].pk).exists()  # the owning team sees it
    week = spike.payload["week"]
    assert target_url(spike).startswith(f"/competitors/quillbooks/?from={week}&to=")
    # The detector alone: the planted week is flagged, the clean series is not.
    spikes = find_spikes(weekly_counts())
    assert [s["competitor_id"] for s in spikes] == [world["quill"].pk]
    # A second recompute updates the same insight rather than adding one.
    recompute_competitors()
    assert Insight.objects.filter(kind=InsightKind.COMPETITOR_SPIKE).count() == 1


def test_pages_counts_open_exactly_their_rows(world: dict[str, Any], pm_client: Client) -> None:
    scan_mentions()
    page = pm_client.get("/competitors/?range=all")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Quillbooks" in body and "Boardly" in body
    link = "/rows/competitor-mentions/?range=all&amp;competitor=quillbooks"
    assert link in body
    rows = pm_client.get(link.replace("&amp;", "&"))
    assert rows.status_code == 200
    assert CompetitorMention.objects.filter(competitor=world["quill"]).count() == 4
    assert '<p class="muted">4 rows</p>' in rows.content.decode()
    export = pm_client.get("/rows/competitor-mentions/export.csv?range=all&competitor=quillbooks")
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    lines = [ln for ln in body.splitlines() if ln.strip()]
    assert len(lines) == 1 + 4
    detail = pm_client.get("/competitors/quillbooks/?range=all")
    assert detail.status_code == 200
    assert "switching to Quill Books because export is slow" in detail.content.decode()


def test_roles_lead_configures_pm_reads_and_writes_notes(
    world: dict[str, Any], pm_client: Client, lead_client: Client
) -> None:
    assert pm_client.get("/competitors/manage/").status_code == 403
    assert pm_client.post("/competitors/manage/", {"name": "Initech"}).status_code == 403
    assert pm_client.post("/competitors/manage/boardly/delete/").status_code == 403
    assert not Competitor.objects.filter(name="Initech").exists()
    response = lead_client.post(
        "/competitors/manage/", {"name": "Initech", "aliases": "Initrode, IT", "domains": "initech.com"}
    )
    assert response.status_code == 302  # saved; two-character aliases are allowed
    initech = Competitor.objects.filter(name="Initech").first()
    assert (
        initech is not None and initech.aliases == ["Initrode", "IT"] and initech.domains == ["initech.com"]
    )
    bad = lead_client.post("/competitors/manage/", {"name": "Hooli", "domains": "not a domain"})
    assert bad.status_code == 200 and "is not a domain" in bad.content.decode()
    note = pm_client.post(
        "/competitors/boardly/", {"text": "Lost Acme Corp to Boardly on price.", "noted_on": "2026-11-20"}
    )
    assert note.status_code == 302
    saved = BattleCardNote.objects.get(competitor=world["boardly"])
    assert saved.author is not None and saved.author.get_username() == "pm"
    assert "Lost Acme Corp" in pm_client.get("/competitors/boardly/").content.decode()
