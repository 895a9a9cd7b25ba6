"""Settings section, preview, test digest button, and the lead's defaults and team pages."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.core import mail

from productops.accounts.models import Profile
from productops.digests.models import DigestDefaults, Subscription, TeamMembership

from .conftest import NOW

pytestmark = pytest.mark.django_db


def test_settings_page_shows_the_digest_section(pm_client: Any) -> None:
    page = pm_client.get("/accounts/settings/").content.decode()
    assert "Weekly digest" in page
    assert 'action="/digests/settings/"' in page and "Send me a test digest" in page


def test_saving_digest_settings_updates_subscription_and_profile_timezone(
    pm_client: Any, pm_user: Any, world: dict[str, Any]
) -> None:
    response = pm_client.post(
        "/digests/settings/",
        {
            "enabled": "on",
            "weekday": "4",
            "hour": "16",
            "timezone": "Asia/Tokyo",
            "only_notable": "on",
            "products": [world["checkout"].pk],
            "teams": [world["apps"].pk],
        },
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/settings/"
    sub = Subscription.objects.get(user=pm_user)
    assert (sub.weekday, sub.hour, sub.only_notable) == (4, 16, True)
    assert list(sub.products.all()) == [world["checkout"]] and list(sub.teams.all()) == [world["apps"]]
    assert Profile.objects.get(user=pm_user).timezone == "Asia/Tokyo"


def test_new_subscriptions_take_the_leads_defaults(lead_client: Any, pm_user: Any) -> None:
    response = lead_client.post(
        "/digests/lead/", {"action": "defaults", "enabled": "on", "weekday": "2", "hour": "7"}
    )
    assert response.status_code == 302
    assert DigestDefaults.load().weekday == 2
    from productops.digests.services import ensure_subscription

    sub = ensure_subscription(pm_user)
    assert (sub.weekday, sub.hour, sub.enabled, sub.only_notable) == (2, 7, True, False)


def test_lead_adds_members_and_subscribes_a_whole_team(
    lead_client: Any, pm_user: Any, world: dict[str, Any]
) -> None:
    team = world["payments"]
    lead_client.post("/digests/lead/", {"action": "add_member", "team": team.pk, "username": "pm"})
    assert TeamMembership.objects.filter(user=pm_user, team=team).exists()
    bad = lead_client.post("/digests/lead/", {"action": "add_member", "team": team.pk, "username": "ghost"})
    assert b"No user has this username" in bad.content

    lead_client.post("/digests/lead/", {"action": "subscribe_team", "team": team.pk})
    sub = Subscription.objects.get(user=pm_user)
    assert sub.enabled and list(sub.teams.all()) == [team]


def test_preview_uses_the_same_digest_with_embedded_charts(pm_client: Any, world: dict[str, Any]) -> None:
    with time_machine.travel(NOW, tick=False):
        page = pm_client.get("/digests/preview/?week=2026-W48").content.decode()
    assert "Checkout conversion fell 25% after the new-checkout flag" in page
    assert 'src="data:image/png;base64,' in page and "cid:" not in page


def test_preview_rejects_a_bad_week_politely(pm_client: Any) -> None:
    response = pm_client.get("/digests/preview/?week=48")
    assert response.status_code == 200 and b"YYYY-Www" in response.content


def test_send_me_a_test_digest(
    pm_client: Any, django_capture_on_commit_callbacks: Any, eager_celery: None
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = pm_client.post("/digests/test/")
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["pm@example.com"]]
    assert mail.outbox[0].subject.startswith("[Test] ")
    assert pm_client.get("/digests/log/").status_code == 403  # PMs don't see the lead's log


def test_delivery_log_is_lead_only_and_has_an_empty_state(lead_client: Any, pm_client: Any) -> None:
    assert pm_client.get("/digests/log/").status_code == 403
    assert b"No digests sent yet" in lead_client.get("/digests/log/").content
