"""Research and competitors on the demo data: the planted redundant research and mention spike are found,
reach the inbox and the digest, and their links open what they name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from insights.feedback.services import score_sentiment
from insights.kinds import target_url
from insights.models import Insight, InsightKind
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.competitors.models import CompetitorMention
from productops.competitors.services import recompute_competitors
from productops.digests.build import build_digest
from productops.research.models import Study
from productops.research.services import recompute_redundant_research
from productops.signals.demo import seed
from tests.demo_data import wipe_demo

MAX_QUERIES = 40


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        wipe_demo()
        truth = seed(seed=7, only={"portfolio", "strategy"})
        score_sentiment()
        recompute_redundant_research()
        recompute_competitors()
        yield truth
        wipe_demo()


@pytest.fixture
def pm(db: Any) -> Client:
    client = Client()
    client.force_login(create_user("demo-pm", "demo-pm@example.com", "demo-pass-123!", Role.PM))
    return client


@pytest.mark.django_db
def test_redundant_research_found_on_the_demo(demo: dict[str, Any], pm: Client) -> None:
    a, b = (Study.objects.get(source_key="demo", external_id=e) for e in demo["research"]["redundant"])
    found = Insight.objects.filter(kind=InsightKind.REDUNDANT_RESEARCH)
    assert [i.key for i in found] == [f"research:{min(a.pk, b.pk)}:{max(a.pk, b.pk)}"]
    insight = found.get()
    assert set(insight.teams.values_list("slug", flat=True)) >= {"growth", "mobile"}
    assert insight.payload["quarter"] == demo["research"]["quarter"]
    assert "invites" in insight.payload["shared_tags"]
    page = pm.get(target_url(insight))
    assert page.status_code == 200
    body = page.content.decode()
    assert a.title in body and b.title in body and a.question in body and b.question in body
    # Both studies' pages point at it; the inbox lists it with a link to the comparison.
    assert target_url(insight) in pm.get(f"/research/studies/{a.pk}/").content.decode()
    assert target_url(insight) in pm.get("/insights/?status=all").content.decode()


@pytest.mark.django_db
def test_competitor_spike_found_and_decoys_ignored(demo: dict[str, Any], pm: Client) -> None:
    spike = demo["competitors"]["spike"]
    found = Insight.objects.filter(kind=InsightKind.COMPETITOR_SPIKE)
    assert [(i.payload["slug"], i.payload["week"]) for i in found] == [(spike["competitor"], spike["week"])]
    insight = found.get()
    assert insight.payload["value"] >= spike["extra"]
    for decoy in demo["competitors"]["decoys"]:
        assert not CompetitorMention.objects.filter(snippet__contains=decoy[:30]).exists()
    page = pm.get(target_url(insight))
    assert page.status_code == 200
    assert (
        "switching to Quillbooks because the Ledger export is slow".lower() in page.content.decode().lower()
    )


@pytest.mark.django_db
def test_digest_has_competitors_and_redundant_research(demo: dict[str, Any], pm: Client) -> None:
    user = create_user("digest-pm", "digest-pm@example.com", "digest-pass-123!", Role.PM)
    digest = build_digest(user, "2026-W47", with_charts=False)
    sections = {s.key: s for s in digest.sections}
    competitors = sections["competitors"]
    assert [i.kind for i in competitors.items] == ["competitor_spike"]
    assert competitors.title == "Competitors"
    overlaps = sections["overlaps"]
    assert "redundant_research" in [i.kind for i in overlaps.items]
    for item in [*competitors.items, *overlaps.items]:
        if item.kind in ("competitor_spike", "redundant_research"):
            path = item.url.split("://", 1)[-1].split("/", 1)[-1]
            assert pm.get("/" + path).status_code == 200


@pytest.mark.django_db
def test_pages_render_with_bounded_queries(demo: dict[str, Any], pm: Client) -> None:
    for url in ("/research/", "/competitors/", "/competitors/quillbooks/", "/competitors/boardly/"):
        with CaptureQueriesContext(connection) as ctx:
            page = pm.get(url)
        assert page.status_code == 200, url
        assert len(ctx.captured_queries) <= MAX_QUERIES, (url, len(ctx.captured_queries))
    body = pm.get("/research/").content.decode()
    for title in ("Onboarding interviews", "Invite flow diary study", "Billing export usability test"):
        assert title in body
    body = pm.get("/competitors/").content.decode()
    assert "Share of voice (rolling four weeks)" in body and "Quillbooks" in body and "Boardly" in body
