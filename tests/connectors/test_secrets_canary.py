"""A canary token set through the UI appears nowhere: not in the database, the broker, logs or any page."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import responses
from django.core import mail
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from connectors.models import Connection, SyncRun
from connectors.tasks import sync_connection

from .broker import drain
from .zendesk_fixtures import EXPORT_URL, ME_URL, fixture

CANARY = "canary-7f3a9c1e5b2d4086a1e9"


def database_dump() -> str:
    parts: list[str] = []
    with db.cursor() as cur:
        for table in db.introspection.table_names():
            cur.execute(f'SELECT * FROM "{table}"')
            parts.extend(repr(row) for row in cur.fetchall())
    return "\n".join(parts)


@pytest.mark.django_db
@responses.activate
def test_canary_secret_never_leaks(
    lead_client: Client, pm_client: Client, caplog: Any, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    drain()
    pages: list[str] = []

    def visit(client: Client, method: str, url: str, data: Any = None) -> Any:
        response = getattr(client, method)(url, data or {}, follow=True)
        pages.append(response.content.decode())
        return response

    create = reverse("connectors:create", args=["zendesk_tickets_test"])
    form = {
        "name": "Canary desk",
        "schedule_kind": "interval",
        "interval_minutes": "60",
        "subdomain": "acme",
        "email": "ops@acme.example",
        "api_token": CANARY,
    }
    responses.get(ME_URL, json=fixture("users_me.json"))
    visit(lead_client, "get", create)
    visit(lead_client, "post", create, {**form, "action": "test"})
    with django_capture_on_commit_callbacks(execute=True):  # saving queues the first sync at once
        visit(lead_client, "post", create, {**form, "action": "save"})
    connection = Connection.objects.get(name="Canary desk")
    assert connection.get_secrets() == {"api_token": CANARY}  # it was stored, just never in clear

    edit = reverse("connectors:edit", args=[connection.pk])
    visit(lead_client, "get", edit)
    visit(lead_client, "post", edit, {**form, "api_token": "", "action": "save"})  # blank keeps it
    with django_capture_on_commit_callbacks(execute=True):  # already queued: no second message
        visit(lead_client, "post", reverse("connectors:sync", args=[connection.pk]))
    messages = drain()
    assert len(messages) == 1 and "sync_connection" in messages[0]

    # The vendor echoes the request, token included, in its error: the framework must scrub it.
    responses.get(EXPORT_URL, status=400, body=f'{{"error": "Bad request", "echo": "token={CANARY}"}}')
    sync_connection.apply(args=[connection.pk])
    run = SyncRun.objects.get(connection=connection)
    assert run.status == "failed" and "[redacted]" in run.error_message

    for client in (lead_client, pm_client):
        for url in (
            reverse("connectors:list"),
            reverse("connectors:detail", args=[connection.pk]),
            reverse("connectors:run", args=[run.pk]),
        ):
            visit(client, "get", url)
    # Positive controls: each place searched does hold this connection's other data.
    assert all("Canary desk" in page for page in pages[1:])
    # The insights inbox lists anomalies and incidents, so it need not name the connection; it must
    # still never show the token.
    visit(lead_client, "get", reverse("insights:inbox") if _has_inbox() else reverse("connectors:list"))
    assert "Canary desk" in database_dump() and "ops@acme.example" in database_dump()
    assert f"connection {connection.pk}" in caplog.text or str(connection.pk) in caplog.text

    assert sum(page.count(CANARY) for page in pages) == 0
    assert database_dump().count(CANARY) == 0
    assert "".join(messages).count(CANARY) == 0
    assert caplog.text.count(CANARY) == 0
    assert all(CANARY not in repr(r.args) for r in caplog.records)
    assert len(mail.outbox) == 1
    assert CANARY not in mail.outbox[0].body + str(getattr(mail.outbox[0], "alternatives", ""))


def _has_inbox() -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse("insights:inbox")
    except NoReverseMatch:
        return False
    return True
