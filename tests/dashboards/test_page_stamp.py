"""A cached dashboard page costs a handful of queries: one page stamp (data version, connection state,
footer facts) shared by the cache key and the footer, and the page follows every change it keys on."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.models import Connection
from productops.core.versions import bump
from productops.ui.stamp import page_stamp


def _warm_queries(client: Client, path: str) -> list[str]:
    client.get(path)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


def test_the_overview_reads_one_stamp_and_the_footer_follows_connections(pm_client: Client) -> None:
    body = pm_client.get("/").content.decode()
    assert "No connector has synced yet" in body

    queries = _warm_queries(pm_client, "/")
    assert sum("core_dataversion" in q for q in queries) == 1
    assert sum("connectors_connection" in q for q in queries) == 1
    assert len(queries) <= 5, queries

    Connection.objects.create(
        name="Desk", kind="zendesk", config={}, last_success_at=timezone.now(), error_streak=2
    )
    body = pm_client.get("/").content.decode()
    assert "Data as of" in body and "1 connector failing" in body


def test_the_stamp_moves_with_the_data_version_and_the_connections(db: object) -> None:
    first = page_stamp()
    bump()
    second = page_stamp()
    assert second.version != first.version and second.connections_key == first.connections_key
    Connection.objects.create(name="Desk", kind="zendesk", config={})
    third = page_stamp()
    assert third.connections == first.connections + 1 and third.version == second.version
