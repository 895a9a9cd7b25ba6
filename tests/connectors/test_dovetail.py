"""Dovetail connector: projects, notes and highlights replayed from vendor-shaped fixtures through a real
`manage.py sync_connection`, then an incremental sync, then a re-sync that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from django.core.management.base import CommandError
from responses import matchers

from connectors.models import RunStatus, SyncRun
from productops.portfolio.models import Team
from productops.research.models import Highlight, Study, StudyNote

from .signal_helpers import connection, load, product, sync

BASE = "https://dovetail.com/api/v1"
P1 = "2f1c9a7e-6d7b-4f0e-9a51-0c6f1f8f2a11"
P3 = "c4d5e6f7-0a1b-4c2d-8e3f-9a0b1c2d3e33"
SECRETS = {"api_key": "api.dvtl_5f0c1b2a9e8d7c6b5a4f3e2d"}
AUTH = {"Authorization": f"Bearer {SECRETS['api_key']}"}
CONFIG = {"start_date": "2026-07-01", "segment_field": "Segment", "project_map": {}}
START = "2026-07-01T00:00:00Z"


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records["dovetail.com"] = ["104.18.20.87"]
    return fake_dns


def serve(path: str, fixture: str, params: dict[str, Any], status: int = 200, **kw: Any) -> None:
    responses.get(
        f"{BASE}{path}",
        json=load("dovetail", fixture),
        status=status,
        match=[
            matchers.query_param_matcher({k: str(v) for k, v in params.items()}),
            matchers.header_matcher(AUTH),
        ],
        **kw,
    )


def serve_projects() -> None:
    serve("/projects", "projects_page1.json", {"sort": "created_at:asc", "page[limit]": 100})
    serve(
        "/projects",
        "projects_page2.json",
        {
            "sort": "created_at:asc",
            "page[limit]": 100,
            "page[start_cursor]": load("dovetail", "projects_page1.json")["page"]["next_cursor"],
        },
    )


def lists(pid: str, since: str, notes: str, highlights: list[str], note_op: str = "gt") -> None:
    serve(
        "/notes",
        notes,
        {
            "filter[project_id]": pid,
            "sort": "created_at:asc",
            f"filter[created_at][{note_op}]": since,
            "page[limit]": 100,
        },
    )
    base = {
        "filter[project_id]": pid,
        "sort": "created_at:asc",
        "filter[updated_at][gte]": since,
        "page[limit]": 100,
    }
    cursor = None
    for name in highlights:
        serve("/highlights", name, {**base, **({"page[start_cursor]": cursor} if cursor else {})})
        cursor = load("dovetail", name)["page"]["next_cursor"]


@pytest.mark.django_db
@responses.activate
def test_full_then_incremental_then_idempotent() -> None:
    billing = product("billing-app")
    growth = Team.objects.create(name="Growth", slug="growth")
    conn = connection("dovetail", CONFIG, SECRETS, product=billing, team=growth)
    serve_projects()
    lists(
        P1,
        START,
        "notes_onboarding.json",
        ["highlights_onboarding_page1.json", "highlights_onboarding_page2.json"],
    )
    lists(P3, START, "notes_diary.json", ["highlights_diary.json"])

    sync(conn)

    studies = {s.external_id: s for s in Study.objects.filter(source_key=conn.source_key)}
    assert set(studies) == {P1, P3}  # the deleted project is skipped
    onboarding = studies[P1]
    assert onboarding.title == "Onboarding interviews"
    assert onboarding.owner_name == "Priya Nair"
    assert str(onboarding.started_on) == "2026-07-02"
    assert onboarding.product_id == billing.pk and onboarding.team_id == growth.pk
    assert StudyNote.objects.filter(study=onboarding).count() == 2
    by_id = {h.external_id: h for h in Highlight.objects.filter(study__source_key=conn.source_key)}
    assert set(by_id) == {"h-0001", "h-0002", "h-0003"}
    assert by_id["h-0001"].tags == ["invites", "navigation"]
    assert by_id["h-0001"].segment == "SMB admin"  # from the note's "Segment" field
    assert by_id["h-0002"].segment == "Enterprise IT"
    assert by_id["h-0001"].note_ref == "a1e0c3b2-0001-4000-8000-000000000001"
    newest = "2026-07-16T07:30:00Z"  # the newest highlight/note timestamp seen
    assert conn.cursors["projects"] == {"since": newest}

    # Incremental: each project is asked only for what is newer than the newest seen.
    responses.reset()
    serve_projects()
    lists(P1, newest, "empty.json", ["empty.json"])
    lists(P3, newest, "empty.json", ["highlights_diary_incremental.json"])
    sync(conn)
    assert Highlight.objects.filter(study__source_key=conn.source_key).count() == 4
    new = Highlight.objects.get(external_id="h-0004")
    assert new.study.external_id == P3 and new.tags == ["activation"]
    run = SyncRun.objects.filter(connection=conn).order_by("-pk").first()
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert run.rows_inserted == 1  # h-0004; the re-read h-0003 and both studies are unchanged
    assert conn.cursors["projects"] == {"since": "2026-07-19T20:05:00Z"}

    # Idempotent: the same answers again write nothing.
    responses.reset()
    serve_projects()
    lists(P1, "2026-07-19T20:05:00Z", "empty.json", ["empty.json"])
    lists(P3, "2026-07-19T20:05:00Z", "empty.json", ["highlights_diary_incremental.json"])
    sync(conn)
    run = SyncRun.objects.filter(connection=conn).order_by("-pk").first()
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert (run.rows_inserted, run.rows_updated) == (0, 0)
    assert Highlight.objects.filter(study__source_key=conn.source_key).count() == 4
    assert Study.objects.filter(source_key=conn.source_key).count() == 2


@pytest.mark.django_db
@responses.activate
def test_bad_key_pauses_the_connection_with_dovetails_message() -> None:
    conn = connection("dovetail", CONFIG, SECRETS, product=product("billing-app"))
    serve("/projects", "error_401.json", {"sort": "created_at:asc", "page[limit]": 100}, status=401)
    with pytest.raises(CommandError, match="Authentication required"):
        sync(conn)
    conn.refresh_from_db()
    assert conn.enabled is False
    run = SyncRun.objects.get(connection=conn)
    assert run.status == RunStatus.FAILED
    assert "Authentication required" in run.error_message
    assert not Study.objects.exists()


@pytest.mark.django_db
@responses.activate
def test_rate_limit_is_waited_for_then_the_page_is_read() -> None:
    conn = connection("dovetail", CONFIG, SECRETS, product=product("billing-app"))
    params = {"sort": "created_at:asc", "page[limit]": 100}
    serve("/projects", "error_429.json", params, status=429, headers={"Retry-After": "1"})
    serve("/projects", "projects_page2.json", {**params})
    lists(P3, START, "notes_diary.json", ["highlights_diary.json"])
    sync(conn)
    assert Study.objects.filter(source_key=conn.source_key).count() == 1
    assert Highlight.objects.count() == 1
