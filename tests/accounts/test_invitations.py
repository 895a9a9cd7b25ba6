"""Invitations, deactivation and last login on the users page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.utils import timezone

from productops.accounts.invitations import invite, token_for
from productops.accounts.models import Invitation
from productops.accounts.roles import Role, role_of
from productops.accounts.tasks import send_invitation

PASSWORD = "a-long-unusual-pass-9417"


def _link(message: Any) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/invitation/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def _password_login() -> bool:
    client = Client()
    client.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})
    return "_auth_user_id" in client.session


def test_lead_invites_and_the_link_creates_the_account_with_the_role(
    lead_client: Client, lead_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = lead_client.post(
            "/accounts/users/invite/", {"email": "New.PM@Example.com", "role": "lead"}
        )
    assert response.status_code == 302 and len(callbacks) == 1  # the e-mail is queued after commit
    invitation = Invitation.objects.get()
    assert invitation.email == "new.pm@example.com" and invitation.invited_by == lead_user
    assert send_invitation(invitation.pk) is True
    (message,) = mail.outbox
    assert message.to == ["new.pm@example.com"] and "Product ops lead" in message.body
    assert (
        isinstance(message, EmailMultiAlternatives)
        and message.alternatives
        and "Accept the invitation" in message.alternatives[0][0]
    )
    link = _link(message)

    page = lead_client.get("/accounts/users/").content.decode()
    assert "new.pm@example.com" in page and "pending, expires" in page

    visitor = Client()
    form = visitor.get(link)
    assert form.status_code == 200 and b"Product ops lead" in form.content
    done = visitor.post(
        link, {"username": "newpm", "password1": PASSWORD, "password2": PASSWORD, "timezone": "Europe/Berlin"}
    )
    assert done.status_code == 302
    user = get_user_model().objects.get(username="newpm")
    assert user.email == "new.pm@example.com" and role_of(user) == Role.LEAD
    assert user.profile.timezone == "Europe/Berlin"
    assert visitor.get("/connectors/").status_code == 200  # logged in, with the lead role

    again = Client().get(link)
    assert again.status_code == 410 and b"already been used" in again.content


def test_expired_revoked_and_forged_links_are_refused(lead_user: Any) -> None:
    invitation = invite("late@example.com", Role.PM, lead_user)
    link = f"/accounts/invitation/{token_for(invitation)}/"
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        expired = Client().get(link)
    assert expired.status_code == 410 and b"expired" in expired.content

    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    assert b"withdrawn" in Client().get(link).content
    forged = Client().get(f"/accounts/invitation/{token_for(invitation)[:-2]}xx/")
    assert forged.status_code == 410 and b"not valid" in forged.content
    assert not get_user_model().objects.filter(email="late@example.com").exists()


def test_a_new_invitation_replaces_the_pending_one_and_existing_accounts_are_refused(
    lead_client: Client, lead_user: Any, pm_user: Any
) -> None:
    first = invite("twice@example.com", Role.PM, lead_user)
    second = invite("twice@example.com", Role.LEAD, lead_user)
    first.refresh_from_db()
    assert first.revoked_at is not None and second.revoked_at is None
    response = lead_client.post(
        "/accounts/users/invite/", {"email": "pm@example.com", "role": "pm"}, follow=True
    )
    assert b"already has an account" in response.content
    assert not Invitation.objects.filter(email="pm@example.com").exists()


def test_weak_password_and_taken_username_are_explained(lead_user: Any, pm_user: Any) -> None:
    link = f"/accounts/invitation/{token_for(invite('w@example.com', Role.PM, lead_user))}/"
    weak = Client().post(link, {"username": "w", "password1": "123", "password2": "123", "timezone": "UTC"})
    assert weak.status_code == 200 and b"too short" in weak.content
    taken = Client().post(
        link, {"username": "PM", "password1": PASSWORD, "password2": PASSWORD, "timezone": "UTC"}
    )
    assert b"taken" in taken.content
    assert not get_user_model().objects.filter(email="w@example.com").exists()


def test_pms_cannot_invite_or_deactivate(pm_client: Client, lead_user: Any) -> None:
    assert (
        pm_client.post("/accounts/users/invite/", {"email": "x@example.com", "role": "lead"}).status_code
        == 403
    )
    assert pm_client.post(f"/accounts/users/{lead_user.pk}/active/", {"active": "0"}).status_code == 403
    assert not Invitation.objects.exists()
    lead_user.refresh_from_db()
    assert lead_user.is_active


def test_deactivation_ends_the_session_at_the_next_request(
    lead_client: Client, pm_user: Any, pm_client: Client
) -> None:
    assert pm_client.get("/").status_code == 200
    lead_client.post(f"/accounts/users/{pm_user.pk}/active/", {"active": "0"})
    pm_user.refresh_from_db()
    assert not pm_user.is_active
    response = pm_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not _password_login()
    page = lead_client.get("/accounts/users/").content.decode()
    assert "deactivated" in page and "Reactivate" in page

    lead_client.post(f"/accounts/users/{pm_user.pk}/active/", {"active": "1"})
    assert _password_login()


def test_a_lead_cannot_deactivate_themselves(lead_client: Client, lead_user: Any) -> None:
    response = lead_client.post(f"/accounts/users/{lead_user.pk}/active/", {"active": "0"}, follow=True)
    assert b"can&#x27;t deactivate your own" in response.content
    lead_user.refresh_from_db()
    assert lead_user.is_active


def test_users_page_shows_last_login(lead_client: Client, pm_user: Any) -> None:
    assert b"never" in lead_client.get("/accounts/users/").content
    Client().post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})
    pm_user.refresh_from_db()
    assert pm_user.last_login is not None
    page = lead_client.get("/accounts/users/").content.decode()
    assert pm_user.last_login.strftime("%Y-%m-%dT%H:%M") in page
