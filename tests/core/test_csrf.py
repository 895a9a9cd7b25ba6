"""Forged POSTs: every state-changing URL refuses a POST without a CSRF token (403) and changes nothing.

Walks every URL pattern (tests/core/test_roles.py) as a logged-in lead with CSRF checks enforced, as a
browser on another site would post. Only the signed, token-in-URL endpoints are exempt, by name.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from connectors.models import Connection
from productops.accounts.roles import Role, role_of
from tests.core.test_roles import PATTERNS, _url

# Machine-to-machine endpoints whose credential is a signature or a signed token, never a cookie.
EXEMPT = {
    "receive",  # connectors/webhooks.py: Standard Webhooks signature
    "nudge",  # connectors/tracker_hooks.py: a tracker's webhook, secret token in the URL (+ signature)
    "unsubscribe",  # RFC 8058 one-click unsubscribe: the signed token is the credential
    "act",  # productops/alerts: acknowledge/mute from an alert; the signed token is the credential
    "api_v1_endpoint",  # productops/api: a bearer token in the Authorization header, never a cookie
}


def _name(view: Any) -> str:
    return getattr(view, "__name__", getattr(getattr(view, "view_class", None), "__name__", str(view)))


def test_only_signed_endpoints_are_csrf_exempt() -> None:
    exempt = {_name(view) for _, view in PATTERNS if getattr(view, "csrf_exempt", False)}
    assert exempt <= EXEMPT, f"new CSRF-exempt views: {exempt - EXEMPT}"
    assert exempt, "the webhook receivers should be exempt"


@pytest.mark.django_db
def test_every_forged_post_is_refused(lead_user: Any, pm_user: Any, zendesk_connection: Connection) -> None:
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(lead_user)
    refused = []
    for route, view in PATTERNS:
        if getattr(view, "csrf_exempt", False):
            continue
        url = (
            _url(route).replace("999999", str(zendesk_connection.pk))
            if "connectors" in route
            else _url(route)
        )
        response = forger.post(url, {"role": "lead", "name": "forged", "confirm": zendesk_connection.name})
        assert response.status_code == 403, f"{url} answered {response.status_code} to a forged POST"
        assert b"CSRF" in response.content, url
        refused.append(url)
    assert len(refused) >= 30
    # Nothing changed: the PM is still a PM, the connection still exists and is still enabled.
    pm_user.refresh_from_db()
    assert role_of(pm_user) == Role.PM
    zendesk_connection.refresh_from_db()
    assert zendesk_connection.enabled and zendesk_connection.name == "Acme Zendesk"


@pytest.mark.django_db
def test_forged_role_change_and_login_are_refused(lead_user: Any, pm_user: Any) -> None:
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(lead_user)
    assert forger.post(f"/accounts/users/{pm_user.pk}/role/", {"role": "lead"}).status_code == 403
    pm_user = type(pm_user).objects.get(pk=pm_user.pk)
    assert role_of(pm_user) == Role.PM
    anonymous = Client(enforce_csrf_checks=True)
    assert (
        anonymous.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"}).status_code == 403
    )


@pytest.fixture
def zendesk_connection(db: Any) -> Connection:
    connection = Connection(
        name="Acme Zendesk", kind="zendesk", config={"subdomain": "acme", "email": "o@a.test"}
    )
    connection.set_secrets({"api_token": "zd-token-0123456789abcdef"})
    connection.save()
    return connection
