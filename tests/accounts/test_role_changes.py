"""A role is one fact: a change on the users page applies on the user's next request, everywhere.

Walks every URL pattern (the same walk as tests/core/test_roles.py) with a lead who is demoted while
logged in, and checks /admin, the lead e-mails and the digest's lead section too.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client

from connectors.sync import leads_emails
from productops.accounts.roles import LEAD_GROUP, PM_GROUP, PUBLIC, Role, required_role, role_of
from productops.accounts.services import create_user, set_role
from productops.digests.services import ensure_all_subscriptions
from tests.core.test_roles import PATTERNS, _url


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _statuses(client: Client) -> dict[str, tuple[str, int]]:
    out = {}
    for route, view in PATTERNS:
        needed = required_role(view)
        if needed == PUBLIC:
            continue
        out[_url(route)] = (str(needed), client.get(_url(route)).status_code)
    return out


@pytest.fixture
def lead2(lead_user: Any) -> Any:
    return create_user("lead2", "lead2@example.com", "lead2-pass-123!", Role.LEAD)


def test_leads_and_pms_are_not_superusers_or_staff(lead_user: Any, pm_user: Any) -> None:
    for user in (lead_user, pm_user):
        user.refresh_from_db()
        assert not user.is_superuser and not user.is_staff, user.username


def test_superuser_status_alone_gives_no_role(db: Any) -> None:
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-123!")
    assert role_of(admin) is None
    client = _logged_in(admin)
    assert client.get("/").status_code == 403
    assert client.get("/accounts/users/").status_code == 403
    assert client.get("/admin/").status_code == 200  # /admin is what createsuperuser is for
    assert "admin@example.com" not in leads_emails()


@pytest.mark.parametrize(("new_role", "label"), [("pm", "PM"), ("", "no access")])
def test_a_demoted_lead_loses_every_lead_power_on_the_next_request(
    lead_user: Any, lead2: Any, new_role: str, label: str
) -> None:
    demoted = _logged_in(lead2)  # logged in before the change: the session must not keep the old role
    before = _statuses(demoted)
    assert all(status != 403 for _, status in before.values()), before
    assert "lead2@example.com" in leads_emails()

    response = _logged_in(lead_user).post(f"/accounts/users/{lead2.pk}/role/", {"role": new_role})
    assert response.status_code == 302

    after = _statuses(demoted)
    for url, (needed, status) in after.items():
        if needed == Role.LEAD or not new_role:
            assert status == 403, f"{label}: {url} ({needed}) gave {status}"
        else:
            assert status != 403, f"{label}: {url} ({needed}) refused"
    assert demoted.get("/admin/").status_code == 302  # to the admin's log-in: not staff
    assert demoted.post("/connectors/add/http_json/", {"name": "x"}).status_code == 403
    assert demoted.post(f"/accounts/users/{lead_user.pk}/role/", {"role": "pm"}).status_code == 403
    lead_user.refresh_from_db()
    assert role_of(lead_user) == Role.LEAD
    assert leads_emails() == ["lead@example.com"]

    lead2 = get_user_model().objects.get(pk=lead2.pk)
    assert role_of(lead2) == (Role.PM if new_role else None)
    assert not lead2.is_superuser and not lead2.is_staff


def test_a_promoted_pm_gains_lead_pages_on_the_next_request(lead_user: Any, pm_user: Any) -> None:
    pm = _logged_in(pm_user)
    assert pm.get("/accounts/users/").status_code == 403
    _logged_in(lead_user).post(f"/accounts/users/{pm_user.pk}/role/", {"role": "lead"})
    assert all(status != 403 for _, status in _statuses(pm).values())
    assert "pm@example.com" in leads_emails()


def test_digest_subscriptions_follow_roles_not_superuser_status(lead_user: Any) -> None:
    get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-123!")
    nobody = create_user("nobody", "nobody@example.com", "nobody-pass-123!", Role.PM)
    set_role(nobody, None)
    ensure_all_subscriptions()
    subscribed = set(get_user_model().objects.filter(digest__isnull=False).values_list("username", flat=True))
    assert subscribed == {"lead"}


def test_the_migration_clears_superuser_from_created_leads_and_keeps_a_lone_admin_a_lead(db: Any) -> None:
    migration = importlib.import_module("productops.accounts.migrations.0002_leads_are_not_superusers")
    User = get_user_model()
    # What the old create path left: leads (and a demoted lead, now PM) as staff superusers.
    lead = create_user("lead", "lead@example.com", "lead-pass-123!", Role.LEAD)
    demoted = create_user("demoted", "demoted@example.com", "demoted-pass-123!", Role.PM)
    User.objects.filter(pk__in=[lead.pk, demoted.pk]).update(is_superuser=True, is_staff=True)
    admin = User.objects.create_superuser("admin", "admin@example.com", "admin-pass-123!")
    migration.forwards(apps, None)
    lead, demoted, admin = (User.objects.get(pk=u.pk) for u in (lead, demoted, admin))
    assert (lead.is_superuser, lead.is_staff, role_of(lead)) == (False, False, Role.LEAD)
    assert (demoted.is_superuser, demoted.is_staff, role_of(demoted)) == (False, False, Role.PM)
    # Other leads exist, so the createsuperuser account gets no role by itself; it keeps /admin.
    assert (admin.is_superuser, role_of(admin)) == (True, None)


def test_the_migration_keeps_an_install_with_only_a_superuser_configurable(db: Any) -> None:
    migration = importlib.import_module("productops.accounts.migrations.0002_leads_are_not_superusers")
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-123!")
    migration.forwards(apps, None)
    admin = get_user_model().objects.get(pk=admin.pk)
    assert admin.is_superuser and role_of(admin) == Role.LEAD
    assert set(admin.groups.values_list("name", flat=True)) == {LEAD_GROUP}
    assert PM_GROUP != LEAD_GROUP


def test_set_role_command_gives_and_takes_a_role(db: Any) -> None:
    from django.core.management import CommandError, call_command

    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-123!")
    call_command("set_role", "admin", "lead")
    assert role_of(get_user_model().objects.get(pk=admin.pk)) == Role.LEAD
    call_command("set_role", "admin", "none")
    admin = get_user_model().objects.get(pk=admin.pk)
    assert role_of(admin) is None and admin.is_superuser  # the admin account keeps /admin
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("set_role", "ghost", "pm")
