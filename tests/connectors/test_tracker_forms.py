"""The tracker connection forms as a lead uses them: no `null`, optional scopes where the tool allows,
slugs (not internal ids) shown on edit, and a typed token that survives a validation error."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from connectors.base import REGISTRY
from connectors.forms import KEPT_SUFFIX, _keep, connection_form_class
from connectors.models import Connection
from productops.portfolio.models import Product, Team

TRACKERS = ("jira_cloud", "jira_dc", "github", "gitlab", "linear")
OPTIONAL_SCOPES = {"jira_cloud", "jira_dc", "linear"}


@pytest.fixture
def slugs(db: Any) -> dict[str, Any]:
    return {
        "team": Team.objects.create(name="Payments Team", slug="payments"),
        "product": Product.objects.create(name="Checkout", slug="checkout"),
    }


def jira_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Acme Jira",
        "schedule_kind": "interval",
        "interval_minutes": "60",
        "site_url": "https://acme.atlassian.net",
        "email": "lead@acme.example",
        "api_token": "ATATT3xFfGF0-typed-token-1234",
        "scopes": '{"ALPHA": {"team": "payments", "product": "checkout"}}',
        "action": "save",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("kind", TRACKERS)
def test_new_form_renders_no_null_and_says_whether_scopes_are_optional(
    lead_client: Client, kind: str
) -> None:
    html = lead_client.get(reverse("connectors:create", args=[kind])).content.decode()
    assert ">null</textarea>" not in html and ">null<" not in html
    assert re.search(r'<textarea name="scopes"[^>]*>\s*\{\}</textarea>', html), "scopes starts as {}"
    assert re.search(r'<textarea name="overrides"[^>]*>\s*\[\]</textarea>', html)
    if kind in OPTIONAL_SCOPES:
        assert "Scopes (optional)" in html and "Leave empty to read every" in html
    else:
        assert "Scopes (optional)" not in html and "At least one" in html


@pytest.mark.parametrize("kind", TRACKERS)
def test_empty_scopes_are_accepted_exactly_where_the_tool_can_read_everything(slugs: Any, kind: str) -> None:
    form_cls = REGISTRY[kind].config_form
    required = {
        "jira_cloud": {"site_url": "https://acme.atlassian.net", "email": "a@b.example"},
        "jira_dc": {"base_url": "https://jira.example.com"},
    }.get(kind, {})
    for empty in ("{}", "", "  "):
        form = form_cls(data={**required, "scopes": empty})
        if kind in OPTIONAL_SCOPES:
            assert form.is_valid(), form.errors
            assert form.cleaned_data["scopes"] == {}
        else:
            assert not form.is_valid() and "at least one scope" in form.errors["scopes"][0]


def test_scopes_accept_a_team_name_and_an_empty_rule(slugs: Any) -> None:
    form_cls = REGISTRY["jira_cloud"].config_form
    form = form_cls(
        data={
            "site_url": "https://acme.atlassian.net",
            "email": "a@b.example",
            "scopes": '{"ALPHA": {"team": "Payments Team", "product": "checkout"}, "OPS": {}}',
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["scopes"]["ALPHA"] == {
        "team": "payments",
        "team_id": slugs["team"].pk,
        "product": "checkout",
        "product_id": slugs["product"].pk,
    }
    assert form.cleaned_data["scopes"]["OPS"] == {}


def test_edit_shows_slugs_not_internal_ids(lead_client: Client, slugs: Any) -> None:
    response = lead_client.post(reverse("connectors:create", args=["jira_cloud"]), jira_data())
    assert response.status_code == 302
    connection = Connection.objects.get(name="Acme Jira")
    assert connection.config["scopes"]["ALPHA"]["team_id"] == slugs["team"].pk  # stored for read()
    html = lead_client.get(reverse("connectors:edit", args=[connection.pk])).content.decode()
    scopes = re.search(r'<textarea name="scopes"[^>]*>(.*?)</textarea>', html, re.S)
    assert scopes is not None
    shown = scopes.group(1)
    assert "team_id" not in shown and "product_id" not in shown
    assert (
        "&quot;team&quot;: &quot;payments&quot;" in shown
        and "&quot;product&quot;: &quot;checkout&quot;" in shown
    )


def test_typed_token_survives_a_validation_error_and_is_never_echoed(lead_client: Client, slugs: Any) -> None:
    url = reverse("connectors:create", args=["jira_cloud"])
    token = "ATATT3xFfGF0-typed-token-1234"
    bad = lead_client.post(url, jira_data(scopes='{"ALPHA": {"team": "nobody"}}'))
    html = bad.content.decode()
    assert bad.status_code == 200 and "no team with slug" in html
    assert token not in html  # never sent back in clear
    kept = re.search(rf'name="api_token{KEPT_SUFFIX}" value="([^"]+)"', html)
    assert kept is not None and "Kept from what you typed" in html
    # The lead fixes the scope and saves without typing the token again.
    fixed = jira_data(api_token="", **{f"api_token{KEPT_SUFFIX}": kept.group(1)})
    response = lead_client.post(url, fixed)
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = Connection.objects.get(name="Acme Jira")
    assert connection.get_secrets()["api_token"] == token
    assert f"api_token{KEPT_SUFFIX}" not in connection.config


def test_a_kept_token_is_refused_for_another_address_or_tampered(lead_client: Client, slugs: Any) -> None:
    url = reverse("connectors:create", args=["jira_cloud"])
    html = lead_client.post(url, jira_data(scopes="[1]")).content.decode()
    kept = re.search(rf'name="api_token{KEPT_SUFFIX}" value="([^"]+)"', html)
    assert kept is not None
    # Another site: the kept token is not reused (the connection saves without one, as a new one would).
    moved = lead_client.post(
        url,
        jira_data(
            site_url="https://evil.example.net", api_token="", **{f"api_token{KEPT_SUFFIX}": kept.group(1)}
        ),
    )
    assert moved.status_code == 302
    assert "api_token" not in Connection.objects.get(name="Acme Jira").get_secrets()
    Connection.objects.all().delete()
    # A forged or truncated value is ignored too.
    forged = lead_client.post(url, jira_data(api_token="", **{f"api_token{KEPT_SUFFIX}": kept.group(1)[:-6]}))
    assert forged.status_code == 302
    assert "api_token" not in Connection.objects.get(name="Acme Jira").get_secrets()


def test_kept_values_are_bound_to_the_connector_and_connection(db: Any) -> None:
    connector = REGISTRY["jira_cloud"]
    form_cls = connection_form_class(connector)
    data = jira_data(api_token="")
    context = form_cls(data=data, connector=connector)._kept_context()
    other = REGISTRY["jira_dc"]
    assert context != connection_form_class(other)(data=data, connector=other)._kept_context()
    form = form_cls(
        data={**data, f"api_token{KEPT_SUFFIX}": _keep("secret-value-1", context)}, connector=connector
    )
    assert form.data["api_token"] == "secret-value-1"


# -- every connector source module names its vendor's docs ------------------------------------------------


def test_every_connector_module_docstring_links_its_docs() -> None:
    root = Path(__file__).resolve().parents[2] / "connectors" / "sources"
    missing = []
    checked = 0
    for path in sorted(root.glob("*.py")):
        module = importlib.import_module(f"connectors.sources.{path.stem}")
        registered = [c for c in REGISTRY.values() if c.__module__ == module.__name__]
        if not registered:
            continue  # helpers (normalise, tracker_mapping): no connector of their own
        checked += 1
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        links = re.findall(r"https://[^\s),>]+", doc)
        if not links:
            missing.append(path.name)
        for cls in registered:
            assert not cls.docs_url or cls.docs_url.startswith("https://"), (
                f"{cls.kind}: docs_url {cls.docs_url}"
            )
    assert checked >= 20, f"only {checked} connector modules found"
    assert missing == [], f"module docstrings without an https doc link: {missing}"
