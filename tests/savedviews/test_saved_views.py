"""Saved views: save a page's filters, share with a team, open by link, subscribe to the digest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from insights.models import Insight
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.digests.build import build_digest
from productops.digests.emails import render_parts
from productops.digests.services import add_team_member
from productops.portfolio.models import Team
from productops.savedviews.models import SavedView
from productops.savedviews.services import insight_in_view

pytestmark = pytest.mark.django_db


def _save(client: Client, name: str, path: str, query: str, team: Any = None) -> Any:
    data = {"name": name, "path": path, "query": query}
    if team is not None:
        data["team"] = team.pk
    return client.post("/views/save/", data)


def test_save_and_open_keeps_the_filters(
    pm_client: Client, pm_user: Any, dashboard_data: dict[str, Any]
) -> None:
    page = pm_client.get("/feedback/?product=atlas&range=30d")
    assert b"Save this view" in page.content
    response = _save(pm_client, "Atlas feedback", "/feedback/", "product=atlas&range=30d&page=3")
    view = SavedView.objects.get(owner=pm_user)
    assert response.status_code == 302 and response["Location"] == f"/views/{view.pk}/"
    opened = pm_client.get(f"/views/{view.pk}/")
    assert opened.status_code == 302
    target = urlparse(opened["Location"])
    assert target.path == "/feedback/"
    assert parse_qs(target.query) == {"product": ["atlas"], "range": ["30d"]}  # the page number is dropped
    landed = pm_client.get(opened["Location"])
    assert landed.status_code == 200
    assert b'<option value="atlas" selected>' in landed.content  # the filter bar shows the product applied
    # The nav lists it on every page.
    assert f'href="/views/{view.pk}/"'.encode() in pm_client.get("/").content


def test_page_parameters_are_kept(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    metric = dashboard_data["metric"]
    _save(pm_client, "Weekly sign-ups", "/explore/", f"metric={metric.pk}&granularity=week&range=180d")
    view = SavedView.objects.get()
    landed = pm_client.get(pm_client.get(view.get_absolute_url())["Location"])
    assert landed.status_code == 200
    assert landed.context["filters"].get("granularity") == "week"
    assert landed.context["filters"].ints("metric") == [metric.pk]


def test_cannot_save_non_pages_or_lead_pages(pm_client: Client, lead_client: Client) -> None:
    for path in (
        "/accounts/settings/",
        "/api/v1/products",
        "https://evil.example/",
        "//evil.example/",
        "/nope/",
    ):
        response = _save(pm_client, "x", path, "")
        assert response.status_code == 302
    assert not SavedView.objects.exists()
    _save(pm_client, "Imports", "/data/import/", "")  # lead-only page
    assert not SavedView.objects.exists()
    _save(lead_client, "Connectors", "/connectors/", "")
    assert SavedView.objects.count() == 1


def test_sharing_with_a_team(pm_user: Any, dashboard_data: dict[str, Any]) -> None:
    team = dashboard_data["team"]
    other_team = Team.objects.create(name="Core", slug="core")
    owner = Client()
    owner.force_login(pm_user)
    # Not on the team yet: sharing is refused.
    _save(owner, "Growth board", "/", "team=growth", team)
    assert not SavedView.objects.exists()
    add_team_member(pm_user, team)
    _save(owner, "Growth board", "/", "team=growth", team)
    view = SavedView.objects.get()
    assert view.team == team

    mate = create_user("mate", "mate@example.com", "mate-pass-123!", Role.PM)
    add_team_member(mate, team)
    outsider = create_user("out", "out@example.com", "out-pass-123!", Role.PM)
    add_team_member(outsider, other_team)
    lead = create_user("boss", "boss@example.com", "boss-pass-123!", Role.LEAD)
    for user, status in ((mate, 302), (lead, 302), (outsider, 404)):
        c = Client()
        c.force_login(user)
        response = c.get(view.get_absolute_url())
        assert response.status_code == status, user
        if status == 302:
            assert response["Location"] == "/?team=growth"
            assert b"Growth board" in c.get("/views/").content
    c = Client()
    c.force_login(outsider)
    assert b"Growth board" not in c.get("/views/").content
    assert c.post(f"/views/{view.pk}/delete/").status_code == 404  # only the owner deletes

    private = SavedView.objects.create(owner=pm_user, name="Mine", path="/", query="")
    c.force_login(mate)
    assert c.get(private.get_absolute_url()).status_code == 404


def test_subscribed_view_is_a_digest_section(
    pm_client: Client, pm_user: Any, dashboard_data: dict[str, Any]
) -> None:
    _save(pm_client, "Atlas support", "/support/", "product=atlas")
    view = SavedView.objects.get()
    digest = build_digest(pm_user)
    assert digest.views == []
    pm_client.post(f"/views/{view.pk}/subscribe/")
    assert list(view.subscribers.all()) == [pm_user]
    now = digest.period_start + timedelta(hours=1)  # within the digest's week
    for key, product in (("in", dashboard_data["product"]), ("other", None)):
        anomaly = Insight.objects.create(kind="anomaly", key=key, title=key, starts_at=now, ends_at=now)
        if product:
            anomaly.products.add(product)

    digest = build_digest(pm_user)
    assert [v.name for v in digest.views] == ["Atlas support"]
    counts = {c["label"]: c for c in digest.views[0].counts}
    tickets = counts["Support tickets opened"]
    # The fixture's tickets are spread over the last 20 days; the count is the rows page's row count.
    assert 0 < tickets["count"] <= 41
    rows_url = tickets["url"].split("://", 1)[1].split("/", 1)[1]
    rows = pm_client.get("/" + rows_url)
    assert rows.status_code == 200
    assert rows.context["page_obj"].paginator.count == tickets["count"]
    parts = render_parts(digest, pm_user, inline=False)
    html, text = parts["html"], parts["text"]
    inbox = counts["Open incidents and anomalies"]
    inbox_page = pm_client.get("/" + inbox["url"].split("://", 1)[1].split("/", 1)[1])
    assert inbox_page.context["page_obj"].paginator.count == inbox["count"] == 1
    assert "View: " in html and "Atlas support" in html
    assert "VIEW: ATLAS SUPPORT" in text and f"Support tickets opened: {tickets['count']}" in text

    pm_client.post(f"/views/{view.pk}/subscribe/")  # again: unsubscribes
    assert build_digest(pm_user).views == []


def test_alert_hook_matches_the_views_scope(pm_user: Any, dashboard_data: dict[str, Any]) -> None:
    product, team = dashboard_data["product"], dashboard_data["team"]
    inside = Insight.objects.create(kind="anomaly", key="in", title="in", product=product)
    inside.products.add(product)
    inside.teams.add(team)
    outside = Insight.objects.create(kind="anomaly", key="out", title="out")
    view = SavedView.objects.create(owner=pm_user, name="Atlas", path="/", query="product=atlas&range=30d")
    assert insight_in_view(inside, view) and not insight_in_view(outside, view)
    everything = SavedView.objects.create(owner=pm_user, name="All", path="/", query="")
    assert insight_in_view(outside, everything)


def test_empty_state_and_anonymous(pm_client: Client) -> None:
    assert b"No saved views yet" in pm_client.get("/views/").content
    anonymous = Client().get("/views/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_the_cached_nav_menu_follows_every_change(pm_user: Any, dashboard_data: dict[str, Any]) -> None:
    """The Views menu is cached per user; saving, renaming, sharing, leaving a team and deleting each show
    on the very next page."""
    from productops.digests.models import TeamMembership
    from productops.savedviews.services import nav_entries, save_teams

    team = dashboard_data["team"]
    mate = create_user("mate2", "mate2@example.com", "mate2-pass-123!", Role.PM)
    assert save_teams(mate) == [] and nav_entries(mate) == []
    add_team_member(mate, team)
    assert save_teams(mate) == [{"pk": team.pk, "name": team.name}]
    view = SavedView.objects.create(
        owner=pm_user, name="Growth board", path="/", query="team=growth", team=team
    )
    assert [e["name"] for e in nav_entries(mate)] == ["Growth board"]
    assert nav_entries(mate)[0]["url"] == view.get_absolute_url()
    view.name = "Growth weekly"
    view.save()
    assert [e["name"] for e in nav_entries(mate)] == ["Growth weekly"]
    team.name = "Growth squad"
    team.save()
    assert nav_entries(mate)[0]["team"] == "Growth squad"
    TeamMembership.objects.filter(user=mate, team=team).delete()
    assert nav_entries(mate) == [] and save_teams(mate) == []
    add_team_member(mate, team)
    view.delete()
    assert nav_entries(mate) == []
    client = Client()
    client.force_login(mate)
    SavedView.objects.create(owner=mate, name="Mine only", path="/", query="")
    assert b"Mine only" in client.get("/").content
