"""The six signal connectors of part B appear in the gallery under their family, and their forms render."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from connectors.base import REGISTRY
from connectors.sources import growthbook, hackernews, intercom, launchdarkly, reddit, zendesk_guide  # noqa: F401

pytestmark = pytest.mark.django_db

FAMILIES = {
    "intercom": "tickets",
    "growthbook": "experiments",
    "launchdarkly": "flags",
    "hackernews": "mentions",
    "reddit": "mentions",
    "zendesk_guide": "kb",
}


def test_each_is_in_the_gallery_under_its_family_with_what_it_pulls(lead_client: Client) -> None:
    html = lead_client.get(reverse("connectors:add")).content.decode()
    for kind, family in FAMILIES.items():
        cls = REGISTRY[kind]
        assert cls.family == family
        section = html.split(f'id="fam-{family}"', 1)[1].split("</section>", 1)[0]
        assert cls.label in section and reverse("connectors:create", args=[kind]) in section
        assert cls.description.split(",")[0] in html


def test_each_form_renders_with_where_the_token_comes_from(lead_client: Client) -> None:
    hints = {
        "intercom": "Developer Hub",
        "growthbook": "API Keys > New secret key",
        "launchdarkly": "Access tokens",
        "hackernews": "No token is needed",
        "reddit": "reddit.com/prefs/apps",
        "zendesk_guide": "Admin Center",
    }
    for kind, hint in hints.items():
        page = lead_client.get(reverse("connectors:create", args=[kind]))
        assert page.status_code == 200, kind
        assert hint in page.content.decode(), kind


def test_settings_list_the_modules() -> None:
    from django.conf import settings

    for module in ("intercom", "growthbook", "launchdarkly", "hackernews", "reddit", "zendesk_guide"):
        assert f"connectors.sources.{module}" in settings.PRODUCTOPS_CONNECTORS
