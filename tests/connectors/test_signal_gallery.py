"""The six signal-tool connectors in the gallery and their create forms; "Backfill from date" cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse
from responses import matchers

from connectors.base import FAMILY_LABELS, REGISTRY
from connectors.sources.zendesk import ZendeskConnector

from .signal_helpers import load

KINDS = {
    "amplitude": "metrics",
    "mixpanel": "metrics",
    "posthog": "metrics",
    "delighted": "nps",
    "typeform": "nps",
    "zendesk": "tickets",
}


@pytest.mark.django_db
def test_each_connector_is_in_the_gallery_under_its_family_with_what_it_pulls(lead_client: Client) -> None:
    html = lead_client.get(reverse("connectors:add")).content.decode()
    for kind, family in KINDS.items():
        cls = REGISTRY[kind]
        assert cls.family == family
        assert cls.label in html and str(cls.description).split(",")[0] in html
        assert reverse("connectors:create", args=[kind]) in html
    assert FAMILY_LABELS["nps"] in html and FAMILY_LABELS["tickets"] in html


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_create_form_shows_help_text_and_never_echoes_the_secret(kind: str, lead_client: Client) -> None:
    html = lead_client.get(reverse("connectors:create", args=[kind])).content.decode()
    cls = REGISTRY[kind]
    for name, field in cls.config_form.base_fields.items():
        assert f'name="{name}"' in html
        if field.help_text:
            assert str(field.help_text).split(".")[0].split("<")[0][:30] in html.replace("&gt;", ">").replace(
                "&#x27;", "'"
            ).replace("&quot;", '"')
    for secret in cls.secret_fields:
        assert f'name="{secret}"' in html and 'type="password"' in html


@pytest.mark.parametrize(
    ("kind", "stream", "cursor"),
    [
        ("zendesk", "tickets", {"since": "2026-02-01"}),
        (
            "delighted",
            "survey_responses",
            {"updated_since": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp())},
        ),
        ("typeform", "responses", {"since": "2026-02-01T00:00:00"}),
        ("mixpanel", "events", {"next_day": "2026-02-01"}),
        ("amplitude", "segmentation", {"start": "2026-02-01"}),
        ("posthog", "trends", {"start": "2026-02-01"}),
        ("posthog", "flags", {"activity_until": "2026-02-01T00:00:00+00:00"}),
        ("posthog", "experiments", None),
    ],
)
def test_backfill_cursor_starts_each_source_at_the_date(kind: str, stream: str, cursor: Any) -> None:
    assert REGISTRY[kind]({}, {}).cursor_for_date(stream, date(2026, 2, 1)) == cursor


@responses.activate
def test_a_zendesk_backfill_cursor_restarts_the_export_at_that_time(fake_dns: Any) -> None:
    fake_dns.records["acme.zendesk.com"] = ["104.16.51.111"]
    start = str(int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()))
    responses.get(
        "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json",
        json=load("zendesk", "export_page3.json"),
        match=[
            matchers.query_param_matcher(
                {"start_time": start, "exclude_deleted": "true", "include": "metric_sets"}
            )
        ],
    )
    connector = ZendeskConnector(
        {"subdomain": "acme", "email": "ops@acme.example", "start_date": "2026-03-01"},
        {"api_token": "zd-0123456789"},
    )
    pages = list(connector.read("tickets", connector.cursor_for_date("tickets", date(2026, 2, 1))))
    assert [r.external_id for r in pages[0].records] == ["205"]
