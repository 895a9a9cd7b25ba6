"""Sentry, PagerDuty and Statsig in the gallery and their create forms; the Experiments page's empty state."""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from connectors.base import FAMILY_LABELS, REGISTRY
from connectors.models import Connection

pytestmark = pytest.mark.django_db

FAMILIES = {"sentry": "monitoring", "pagerduty": "monitoring", "statsig": "experiments"}
HINTS = {
    "sentry": "Developer Settings",
    "pagerduty": "API Access Keys",
    "statsig": "Console API key",
}


def test_each_is_in_the_gallery_under_its_family(lead_client: Client) -> None:
    html = lead_client.get(reverse("connectors:add")).content.decode()
    assert FAMILY_LABELS["monitoring"] == "Monitoring and incidents" and FAMILY_LABELS["monitoring"] in html
    for kind, family in FAMILIES.items():
        cls = REGISTRY[kind]
        assert cls.family == family
        section = html.split(f'id="fam-{family}"', 1)[1].split("</section>", 1)[0]
        assert cls.label in section and reverse("connectors:create", args=[kind]) in section
        assert f"connectors.sources.{kind}" in settings.PRODUCTOPS_CONNECTORS


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_the_form_says_where_the_token_comes_from_and_keeps_it_secret(kind: str, lead_client: Client) -> None:
    page = lead_client.get(reverse("connectors:create", args=[kind])).content.decode()
    assert HINTS[kind] in page
    for secret in REGISTRY[kind].secret_fields:
        assert f'name="{secret}"' in page and 'type="password"' in page


def test_a_lead_saves_a_sentry_connection_and_the_token_is_never_shown(lead_client: Client) -> None:
    token = "sntryu_0123456789abcdef0123456789abcdef"
    response = lead_client.post(
        reverse("connectors:create", args=["sentry"]),
        {
            "name": "Sentry (Pulse)",
            "schedule_kind": "manual",
            "interval_minutes": "60",
            "base_url": "https://sentry.io",
            "organization": "acme",
            "auth_token": token,
            "projects": "pulse-web",
            "product_map": "{}",
            "environment": "production",
            "start_date": "2026-03-01",
            "lookback_days": "2",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = Connection.objects.get(name="Sentry (Pulse)")
    assert conn.kind == "sentry" and conn.config["organization"] == "acme"
    assert conn.get_secrets() == {"auth_token": token} and token not in str(conn.config)
    edit = lead_client.get(reverse("connectors:edit", args=[conn.pk])).content.decode()
    assert token not in edit and "Leave blank to keep it" in edit


def test_experiments_empty_state_names_what_exists(pm_client: Client, lead_client: Client) -> None:
    html = pm_client.get(reverse("feedback:experiments")).content.decode()
    assert "Optimizely, Statsig" not in html  # the old promise
    sentence = html.split("Experiments and their results come from", 1)[1].split("</p>", 1)[0]
    # Every installed connector that writes experiment results, and only those.
    assert "GrowthBook, PostHog, Statsig connection" in sentence
    assert "imported as “CSV: experiment results”" in sentence  # the experiments CSV kind exists
    assert "Sentry" not in sentence and "Open the connector gallery" not in html  # a PM can't connect
    lead = lead_client.get(reverse("feedback:experiments")).content.decode()
    assert reverse("connectors:add") in lead


@pytest.mark.parametrize(
    ("kind", "stream", "cursor"),
    [
        ("sentry", "events", {"start": "2026-02-01"}),
        ("sentry", "issues", {"since": "2026-02-01T00:00:00+00:00"}),
        ("sentry", "releases", {"since": "2026-02-01T00:00:00+00:00"}),
        ("pagerduty", "incidents", {"since": "2026-02-01T00:00:00+00:00"}),
        ("statsig", "experiments", None),
    ],
)
def test_backfill_cursor_starts_each_source_at_the_date(kind: str, stream: str, cursor: object) -> None:
    assert REGISTRY[kind]({}, {}).cursor_for_date(stream, date(2026, 2, 1)) == cursor
