"""A stored secret is only sent to the address it was entered for.

Changing a connection's URL, host, subdomain, region or auth header name with its secret left blank
is refused with a form error (Save and Test alike); typing the secret again is accepted; other edits
keep the stored secret. Checked for every registered connector that has such a field.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import responses
from django import forms
from django.test import Client
from django.urls import reverse

from connectors.base import REGISTRY, Connector
from connectors.forms import connection_form_class, destination_fields
from connectors.models import Connection
from productops.portfolio.models import Team

from .test_views import form_data

pytestmark = pytest.mark.django_db

SECRET = "stored-secret-value-0123456789"
# Fields whose valid values depend on each other (the generic HTTP connector's family and mapping).
# The trackers' scopes name an existing team (see the fixture below).
KNOWN = {
    "family": "metrics",
    "mapping": '{"metric": "name", "ts": "day", "value": "count"}',
    "scopes": '{"ALPHA": {"team": "alpha"}}',
}


@pytest.fixture(autouse=True)
def _team(db: Any) -> None:
    Team.objects.create(name="Alpha", slug="alpha")


def _filler(field: forms.Field, name: str, other: bool = False) -> Any:
    """A valid value for a required field (another valid one when `other`)."""
    if isinstance(field, forms.URLField):
        return "https://elsewhere.example.org" if other else "https://tool.example.com"
    if isinstance(field, forms.EmailField):
        return "ops@example.com"
    if isinstance(field, forms.TypedChoiceField | forms.ChoiceField):
        choices = [str(value) for value, _ in list(field.choices) if value != ""]
        return choices[-1] if other else choices[0]
    if isinstance(field, forms.IntegerField):
        return str(max(field.min_value or 1, 1) + (1 if other else 0))
    if isinstance(field, forms.DateField):
        return "2026-01-01"
    if isinstance(field, forms.JSONField):
        return "{}"
    if isinstance(field, forms.BooleanField):
        return "on"
    return "X-Other-Auth" if other and "header" in name else "acme2" if other else "acme"


# Scopes are repositories or project paths for the git hosts, project or team keys elsewhere.
SCOPES = {"github": "acme/alpha", "gitlab": "project:acme/alpha"}


def _data(form: Any, secrets: dict[str, str]) -> dict[str, Any]:
    known = dict(KNOWN)
    if form.connector.kind in SCOPES:
        known["scopes"] = json.dumps({SCOPES[form.connector.kind]: {"team": "alpha"}})
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, dt.date):
            value = value.isoformat()
        if isinstance(field, forms.JSONField) and value in ("null", "{}"):  # an empty initial
            value = None
        if value in (None, "") and name in known:
            value = known[name]
        if value in (None, "") and field.required:
            value = _filler(field, name)
        if isinstance(field, forms.BooleanField) and not value:
            continue
        if isinstance(field, forms.JSONField) and isinstance(value, dict):
            value = json.dumps(value)
        if value is not None:
            data[name] = value
    data.update({"name": "Conn", "schedule_kind": "interval", "interval_minutes": "60", **secrets})
    return data


def _connectors() -> list[type[Connector]]:
    return [
        cls
        for cls in REGISTRY.values()
        if destination_fields(cls) and set(cls.secret_fields) - set(cls.inbound_secret_fields)
    ]


def _saved(connector: type[Connector]) -> tuple[Connection, dict[str, Any]]:
    form_class = connection_form_class(connector)
    secrets = {name: SECRET for name in connector.secret_fields}
    data = _data(form_class(connector=connector), secrets)
    form = form_class(data, connector=connector)
    assert form.is_valid(), (connector.kind, form.errors)
    connection = form.apply(Connection())
    connection.save()
    return connection, data


def test_every_connector_with_a_url_or_host_field_declares_it_a_destination() -> None:
    kinds = {cls.kind for cls in _connectors()}
    # The built-in connectors whose requests go to a configurable host, region or header.
    assert {"github", "gitlab", "jira_cloud", "jira_dc", "http_json", "zendesk", "posthog"} <= kinds, kinds
    for cls in _connectors():
        for name, field in cls.config_form.base_fields.items():
            if isinstance(field, forms.URLField):
                assert name in destination_fields(cls), (cls.kind, name)
    assert "auth_header_name" in destination_fields(REGISTRY["http_json"])


@pytest.mark.parametrize("connector", _connectors(), ids=lambda c: c.kind)
def test_a_new_destination_with_a_blank_secret_is_refused(connector: type[Connector]) -> None:
    connection, _ = _saved(connector)
    form_class = connection_form_class(connector)
    for name in destination_fields(connector):
        field = form_class.base_fields[name]
        base = _data(form_class(connector=connector, instance=connection), {})
        moved = {**base, name: _filler(field, name, other=True)}
        assert moved[name] != base.get(name), (connector.kind, name)

        blank = form_class(moved, connector=connector, instance=connection)
        assert not blank.is_valid(), (connector.kind, name)
        outbound = [s for s in connector.secret_fields if s not in connector.inbound_secret_fields]
        for secret in outbound:
            assert "enter the" in str(blank.errors.get(secret)), (connector.kind, name, blank.errors)
        for secret in connector.inbound_secret_fields:
            assert secret not in blank.errors

        typed = form_class(
            {**moved, **{s: "retyped-secret-9999" for s in outbound}},
            connector=connector,
            instance=connection,
        )
        assert typed.is_valid(), (connector.kind, name, typed.errors)
        assert all(typed.secret_values()[s] == "retyped-secret-9999" for s in outbound)

    unchanged = form_class(
        _data(form_class(connector=connector, instance=connection), {}),
        connector=connector,
        instance=connection,
    )
    assert unchanged.is_valid(), (connector.kind, unchanged.errors)
    assert unchanged.secret_values() == {s: SECRET for s in connector.secret_fields}


@responses.activate
def test_test_and_save_in_the_ui_refuse_a_new_host_without_the_token(
    lead_client: Client, zendesk: Connection
) -> None:
    url = reverse("connectors:edit", args=[zendesk.pk])
    for action in ("test", "save"):
        html = lead_client.post(
            url, form_data(subdomain="attacker", api_token="", action=action)
        ).content.decode()
        assert "You changed Subdomain, so enter the" in html, action
    assert len(responses.calls) == 0  # the stored token went nowhere
    zendesk.refresh_from_db()
    assert zendesk.config["subdomain"] == "acme"
    assert zendesk.get_secrets() == {"api_token": "zd-token-0123456789abcdef"}

    lead_client.post(url, form_data(subdomain="acme", api_token="", name="Renamed"))
    zendesk.refresh_from_db()
    assert zendesk.name == "Renamed" and zendesk.get_secrets() == {"api_token": "zd-token-0123456789abcdef"}
