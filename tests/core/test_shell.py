"""The UI shell: CSP on every page, no external host anywhere, Plotly served locally, login throttling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["'](?:https?:)?//""", re.I)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/accounts/settings/", "/accounts/users/"])
def test_pages_have_csp_and_no_external_hosts(lead_client: Client, path: str) -> None:
    client = lead_client if path != "/accounts/login/" else Client()
    response = client.get(path)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1) and "http" not in script_src.group(1)
    html = response.content.decode()
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)
    assert "<script>" not in html.replace(" ", ""), "inline script found"


@pytest.mark.django_db
def test_plotly_is_served_from_the_installed_package(client: Client) -> None:
    assert finders.find("vendor/plotly/plotly.min.js")
    response = client.get("/static/vendor/plotly/plotly.min.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    assert b"plotly" in body[:2000].lower() and len(body) > 1_000_000


@pytest.mark.django_db
def test_nav_shows_configuration_only_to_the_lead(pm_client: Client, lead_client: Client) -> None:
    html = pm_client.get("/").content.decode()
    assert "Overview" in html and "Settings" in html
    assert ">Connectors<" in html  # PMs see connector health, read-only
    assert ">Import<" not in html
    assert ">Import<" in lead_client.get("/").content.decode()


@pytest.mark.django_db
def test_passwords_use_argon2(pm_user: Any) -> None:
    assert pm_user.password.startswith("argon2")


@pytest.mark.django_db
def test_repeated_failed_logins_lock_out(pm_user: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "pm", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    locked = client.post(
        "/accounts/login/", {"username": "pm", "password": "pm-pass-123!"}, REMOTE_ADDR="10.1.1.1"
    )
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    ok = Client().post(
        "/accounts/login/", {"username": "pm", "password": "pm-pass-123!"}, REMOTE_ADDR="10.2.2.2"
    )
    assert ok.status_code == 302


@pytest.mark.django_db
def test_lead_changes_a_role(lead_client: Client, pm_user: Any) -> None:
    response = lead_client.post(f"/accounts/users/{pm_user.pk}/role/", {"role": "lead"})
    assert response.status_code == 302
    pm_user.refresh_from_db()
    assert pm_user.groups.filter(name="Product ops lead").exists()
