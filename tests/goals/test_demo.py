"""The Goals pages on the demo data: the planted at-risk key result, the on-track one, links and charts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from insights.models import Insight, InsightKind
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.digests.build import build_digest
from productops.goals.models import Alignment, AlignmentStatus, KeyResult, KrStatus
from productops.signals.demo import seed
from tests.demo_data import wipe_demo

MAX_QUERIES = 40


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        wipe_demo()
        truth = seed(seed=7, only={"metrics", "portfolio", "goals"})
        yield truth
        wipe_demo()


@pytest.mark.django_db
def test_the_planted_key_results(demo: dict[str, Any]) -> None:
    goals = demo["goals"]
    at_risk = KeyResult.objects.get(source_key="demo", external_id=goals["at_risk"]["key_result"])
    on_track = KeyResult.objects.get(source_key="demo", external_id=goals["on_track"]["key_result"])
    assert at_risk.status == KrStatus.AT_RISK and at_risk.metric.key == "session_length"
    assert on_track.status == KrStatus.ON_TRACK and on_track.metric.key == "daily_active_users"
    flagged = set(Insight.objects.filter(kind=InsightKind.GOAL_AT_RISK).values_list("key", flat=True))
    assert flagged == {f"kr:{at_risk.pk}"}
    linked = Alignment.objects.filter(status=AlignmentStatus.CONFIRMED, item__source_key="demo")
    assert linked.count() == len(goals["links"])
    assert Alignment.objects.filter(status=AlignmentStatus.SUGGESTED).exists()


@pytest.mark.django_db
def test_the_goals_pages_render_with_the_demo(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("goals-pm", "goals-pm@example.com", "goals-pass-123!", Role.PM))
    with CaptureQueriesContext(connection) as ctx:
        page = client.get("/goals/")
    assert page.status_code == 200
    assert len(ctx.captured_queries) <= MAX_QUERIES, len(ctx.captured_queries)
    body = page.content.decode()
    at_risk = KeyResult.objects.get(external_id=demo["goals"]["at_risk"]["key_result"])
    assert f'href="/goals/key-results/{at_risk.pk}/"' in body
    assert "Grow revenue and engagement across every product" in body
    assert body.count('<td><span class="badge kr-at_risk">') == 1
    assert "At risk: 1<" in body
    # The status filter narrows to the at-risk key result; the product filter to one product.
    only = client.get("/goals/?status=at_risk").content.decode()
    assert at_risk.title in only and "Pulse daily active users" not in only
    pulse = client.get("/goals/?product=pulse").content.decode()
    assert "Pulse daily active users" in pulse and at_risk.title not in pulse
    assert client.get("/goals/?status=nope&level=%00").status_code == 200

    detail = client.get(f"/goals/key-results/{at_risk.pk}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "Projection to the end of the period" in html and "at risk" in html
    start = html.index('id="chart-')
    data_id = html[start + 4 : html.index('"', start + 4)] + "-data"
    figure = json.loads(html.split(f'id="{data_id}" type="application/json">')[1].split("</script>")[0])
    names = [t.get("name") for t in figure["data"]]
    assert "Projection" in names and "Average so far" in names
    assert figure["layout"]["shapes"][0]["y0"] == at_risk.target_value
    # A PM who is not on a team of Canvas reads but gets no edit controls.
    assert "Add check-in" not in html


@pytest.mark.django_db
def test_the_digest_shows_the_demo_goal_at_risk(demo: dict[str, Any]) -> None:
    user = create_user("digest-pm", "digest-pm@example.com", "digest-pass-123!", Role.PM)
    digest = build_digest(user, "2026-W47", with_charts=False)
    section = next(s for s in digest.sections if s.key == "goals")
    assert [i.title for i in section.items] == ["Key result at risk: Average board session length up 5%"]
