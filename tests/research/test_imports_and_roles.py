"""Importing research from CSV and Markdown (idempotent, with row errors), and who may edit what:
the lead everything, a PM only the research of their products."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from productops.research.imports import import_csv, import_markdown, parse_markdown
from productops.research.models import Highlight, Study, StudyNote

CSV = (
    "study,study id,question,method,start,end,participants,owner,product,team,study tags,quote,segment,tags,date\n"
    'Onboarding interviews,onb,Why do admins stall?,Interviews,2026-10-12,2026-10-30,8,Priya,ledger,growth,"onboarding, invites",'
    '"I could not find where to invite people",SMB admin,"invites, navigation",2026-10-13\n'
    "Onboarding interviews,onb,,,,,,,,,,SSO blocked the rollout,Enterprise IT,sso,2026-10-14\n"
    "Pulse survey,,What do teams want next?,survey,2026-11-01,,120,,pulse,mobile,,,,,\n"
)

MARKDOWN = """---
title: Invite flow diary study
question: What stops new admins from inviting teammates?
method: diary
start: 2026-10-19
end: 2026-11-06
participants: 6
product: ledger
team: growth
tags:
  - invites
  - activation
---
Six team leads kept a diary for three weeks.

## Week 1
Most waited for teammates to accept.

## Highlights
- "The invite email looks like spam." {segment: Team lead; tags: invites, email}
- Resending the invite is buried three menus deep.
"""


def test_csv_import_is_idempotent_and_refuses_other_products(research_world: dict[str, Any]) -> None:
    w = research_world
    result = import_csv(CSV.encode(), w["pm_ledger"])
    # The Pulse study belongs to another product: a row error, the rest imports.
    assert result.studies == 1 and result.highlights == 2
    assert (
        len(result.errors) == 1 and "Pulse survey" in result.errors[0] and "may not edit" in result.errors[0]
    )
    study = Study.objects.get(title="Onboarding interviews")
    assert (study.question, study.method, study.participants) == ("Why do admins stall?", "interviews", 8)
    assert (
        study.product == w["ledger"] and study.team == w["growth"] and study.tags == ["onboarding", "invites"]
    )
    assert study.owner_name == "Priya" and study.quarter == "2026-Q4"
    hl = Highlight.objects.get(study=study, segment="SMB admin")
    assert hl.tags == ["invites", "navigation"] and hl.created_at.date().isoformat() == "2026-10-13"
    again = import_csv(CSV.encode(), w["pm_ledger"])
    assert again.studies == 1 and Study.objects.count() == 1 and Highlight.objects.count() == 2
    # The Pulse PM imports their own study from the same file.
    pulse = import_csv(CSV.encode(), w["pm_pulse"])
    assert pulse.studies == 1 and Study.objects.filter(product=w["pulse"]).count() == 1


def test_csv_import_says_what_is_wrong(research_world: dict[str, Any]) -> None:
    bad = "study,start,product,quote,date\nX,2026-13-01,ledger,hello,2026-10-01\nY,2026-10-01,nope,hi,\n"
    result = import_csv(bad.encode(), research_world["pm_ledger"])
    assert result.studies == 0
    assert any("start '2026-13-01' is not a date" in e for e in result.errors)
    assert any("no product 'nope'" in e for e in result.errors)


def test_markdown_import_front_matter_notes_and_highlights(research_world: dict[str, Any]) -> None:
    data = parse_markdown(MARKDOWN, "diary.md")
    assert data.title == "Invite flow diary study" and data.fields["tags"] == "invites, activation"
    assert [t for t, _ in data.notes] == ["Summary", "Week 1"]
    assert data.highlights[0] == {
        "quote": "The invite email looks like spam.",
        "segment": "Team lead",
        "tags": ["invites", "email"],
    }
    result = import_markdown([("diary.md", MARKDOWN.encode())], research_world["pm_ledger"])
    assert result.ok and (result.studies, result.notes, result.highlights) == (1, 2, 2)
    study = Study.objects.get()
    assert study.method == "diary" and study.tags == ["invites", "activation"] and study.participants == 6
    assert StudyNote.objects.filter(study=study).count() == 2
    import_markdown([("diary.md", MARKDOWN.encode())], research_world["pm_ledger"])
    assert Highlight.objects.count() == 2 and StudyNote.objects.count() == 2
    broken = import_markdown([("x.md", b"no front matter here")], research_world["pm_ledger"])
    assert broken.errors and "no front matter" in broken.errors[0]


def test_import_page_uploads_markdown_files(research_world: dict[str, Any]) -> None:
    client: Client = research_world["client_ledger"]
    assert client.get("/research/import/").status_code == 200
    upload = SimpleUploadedFile("diary.md", MARKDOWN.encode(), content_type="text/markdown")
    response = client.post("/research/import/", {"markdown_files": [upload]})
    assert response.status_code == 302 and Study.objects.filter(title="Invite flow diary study").exists()
    template = client.get("/research/import/template.csv")
    assert (
        template.status_code == 200 and import_csv(template.content, research_world["pm_ledger"]).ok is False
    )
    # (the template names the demo's "billing" product, absent here: a row error, as the page would say)


@pytest.mark.django_db
def test_pm_edits_only_their_products_research(research_world: dict[str, Any], lead_client: Client) -> None:
    w = research_world
    mine = Study.objects.create(external_id="a", title="Mine", product=w["ledger"], team=w["growth"])
    theirs = Study.objects.create(external_id="b", title="Theirs", product=w["pulse"], team=w["mobile"])
    pm: Client = w["client_ledger"]
    assert pm.get(f"/research/studies/{theirs.pk}/").status_code == 200  # everyone reads
    assert pm.get(f"/research/studies/{theirs.pk}/edit/").status_code == 403
    assert pm.post(f"/research/studies/{theirs.pk}/highlights/", {"quote": "x"}).status_code == 403
    assert pm.post(f"/research/studies/{theirs.pk}/notes/", {"title": "x"}).status_code == 403
    assert not Highlight.objects.filter(study=theirs).exists()
    # Creating a study for another product is refused by the form (not in the choices).
    response = pm.post(
        "/research/studies/new/", {"title": "Sneaky", "method": "other", "product": w["pulse"].pk}
    )
    assert response.status_code == 200 and not Study.objects.filter(title="Sneaky").exists()
    # Their own product: allowed.
    assert (
        pm.post(
            f"/research/studies/{mine.pk}/highlights/", {"quote": "Great", "segment": "SMB", "tags": "a, b"}
        ).status_code
        == 302
    )
    assert Highlight.objects.get(study=mine).tags == ["a", "b"]
    response = pm.post(
        "/research/studies/new/",
        {"title": "New one", "question": "Why?", "method": "survey", "product": w["ledger"].pk, "tags": "x"},
    )
    assert response.status_code == 302
    created = Study.objects.get(title="New one")
    assert created.source_key == "manual" and created.tags == ["x"]
    # The lead edits anything.
    assert (
        lead_client.post(f"/research/studies/{theirs.pk}/notes/", {"title": "Lead note"}).status_code == 302
    )
    assert StudyNote.objects.filter(study=theirs, title="Lead note").exists()
