"""A PostgreSQL backend terminated mid-sync (pg_terminate_backend, as a failover or an admin would):
the committed page stays, the run does not report success, and the next run finishes with every
record exactly once."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
import responses
from django.db import connection as db
from django.db import connections

from connectors.models import Connection, RunStatus, SyncRun
from connectors.sync import run_sync
from productops.signals.models import SupportTicket

from .test_sync_faults import ALL_IDS, FIRST, PAGE1, PAGE2, SECOND
from .zendesk_fixtures import EXPORT_URL


def _terminate(pid: int) -> None:
    params = db.settings_dict
    with psycopg.connect(
        host=params.get("HOST") or "127.0.0.1",
        port=params.get("PORT") or 5432,
        user=params.get("USER") or "postgres",
        password=params.get("PASSWORD") or None,
        dbname=params["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_terminated_backend_mid_sync_loses_and_duplicates_nothing(zendesk: Connection) -> None:
    assert db.vendor == "postgresql"
    db.ensure_connection()
    pid = db.connection.info.backend_pid

    def page2_after_killing_our_backend(request: Any) -> tuple[int, dict[str, str], str]:
        _terminate(pid)  # between page 1's commit and page 2's write
        return 200, {"Content-Type": "application/json"}, json.dumps(PAGE2)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(EXPORT_URL, json=PAGE1, match=[FIRST])
        rsps.add_callback(responses.GET, EXPORT_URL, callback=page2_after_killing_our_backend, match=[SECOND])
        try:
            outcome = run_sync(zendesk.pk).outcome
        except Exception as exc:  # the worker's task fails; Celery would log it and retry later
            outcome = f"raised {type(exc).__name__}"
    assert outcome != "succeeded"

    connections.close_all()  # what Celery's Django fix-up does between tasks
    assert SupportTicket.objects.filter(source_key=zendesk.source_key).count() == len(PAGE1["tickets"])

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(EXPORT_URL, json=PAGE1, match=[FIRST])
        rsps.get(EXPORT_URL, json=PAGE2, match=[SECOND])
        run_sync(zendesk.pk)
    tickets = list(
        SupportTicket.objects.filter(source_key=zendesk.source_key).values_list("external_id", flat=True)
    )
    assert sorted(tickets) == sorted(ALL_IDS) and len(tickets) == len(set(tickets))
    assert SyncRun.objects.filter(connection=zendesk, status=RunStatus.SUCCEEDED).exists()
