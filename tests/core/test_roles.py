"""Walks every URL pattern with anonymous, PM and lead users and checks the role each view declares."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from productops.accounts.roles import PUBLIC, Role, required_role

SAMPLE = {"int": "999999", "str": "nope", "slug": "nope", "uuid": str(uuid.uuid4()), "path": "nope"}


def _walk(resolver: URLResolver, prefix: str = "", ns: str = "") -> Iterator[tuple[str, Any, str]]:
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            child_ns = ns or (p.app_name or "")
            yield from _walk(p, prefix + str(p.pattern), child_ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback, ns


def _url(route: str) -> str:
    def sub(m: re.Match[str]) -> str:
        return SAMPLE.get(m.group(1) or "str", "nope")

    path = re.sub(r"<(?:(\w+):)?\w+>", sub, route)
    path = path.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    return "/" + path


def _patterns() -> list[tuple[str, Any]]:
    out = []
    for route, view, ns in _walk(get_resolver()):
        if ns == "admin" or "(?P" in route:
            continue
        out.append((route, view))
    return out


PATTERNS = _patterns()


def test_every_view_declares_a_role() -> None:
    undeclared = [route for route, view in PATTERNS if required_role(view) is None]
    assert undeclared == [], f"views without a role decorator (they are refused): {undeclared}"


def test_there_are_views_of_each_role() -> None:
    roles = {required_role(view) for _, view in PATTERNS}
    assert {PUBLIC, Role.PM, Role.LEAD} <= roles


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "view"), PATTERNS, ids=[r for r, _ in PATTERNS])
def test_roles_per_url(route: str, view: Any, pm_user: Any, lead_user: Any) -> None:
    needed = required_role(view)
    url = _url(route)
    anonymous = Client().get(url)
    if needed == PUBLIC:
        # Not sent to log in first (a login-flow page may still send you back to the form, without ?next=).
        assert not (anonymous.status_code == 302 and "/accounts/login/?next=" in anonymous["Location"]), url
    else:
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/"), url

    pm = Client()
    pm.force_login(pm_user)
    pm_status = pm.get(url).status_code
    if needed == Role.LEAD:
        assert pm_status == 403, f"PM reached lead-only {url}"
    else:
        assert pm_status != 403, f"PM refused at {url}"

    lead = Client()
    lead.force_login(lead_user)
    assert lead.get(url).status_code != 403, f"lead refused at {url}"


@pytest.mark.django_db
def test_user_without_role_is_refused(django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("nobody", password="x-long-password-1")
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403
    assert b"no role" in response.content
