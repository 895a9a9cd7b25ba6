"""Twenty concurrent "Sync now" clicks, and twenty concurrent workers, give exactly one running sync."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from connectors.models import Connection, RunStatus, SyncRun
from connectors.sync import run_sync
from productops.signals.models import SupportTicket

from .broker import drain

N = 20


def counter_connection(name: str, **config: Any) -> Connection:
    return Connection.objects.create(
        name=name, kind="slow_counter_test", config={"total": 40, "page_size": 10, "delay": 0.15, **config}
    )


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sync_now_requests_queue_one_run(lead_user: Any) -> None:
    connection = counter_connection("clicks")
    drain()
    clients = []
    for _ in range(N):
        client = Client()
        client.force_login(lead_user)
        clients.append(client)
    barrier = threading.Barrier(N)

    def click(client: Client) -> str:
        try:
            barrier.wait()
            response = client.post(reverse("connectors:sync", args=[connection.pk]), follow=True)
            html = response.content.decode()
            return (
                "queued"
                if "queued.</" in html or "” queued." in html
                else "already"
                if "already" in html
                else html
            )
        finally:
            db.close()

    with ThreadPoolExecutor(N) as pool:
        answers = Counter(pool.map(click, clients))

    assert answers == {"queued": 1, "already": N - 1}
    assert SyncRun.objects.filter(connection=connection).count() == 1
    assert SyncRun.objects.get(connection=connection).status == RunStatus.QUEUED
    messages = drain()
    assert len(messages) == 1 and "connectors.tasks.sync_connection" in messages[0]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_workers_run_one_sync() -> None:
    connection = counter_connection("workers")
    drain("insights")
    barrier = threading.Barrier(N)
    running_at_once: list[int] = []

    def worker(_: int) -> str:
        try:
            barrier.wait()
            running_at_once.append(SyncRun.objects.filter(status=RunStatus.RUNNING).count())
            return run_sync(connection.pk).outcome
        finally:
            db.close()

    with ThreadPoolExecutor(N) as pool:
        outcomes = Counter(pool.map(worker, range(N)))

    assert outcomes == {"succeeded": 1, "skipped": N - 1}
    assert list(SyncRun.objects.filter(connection=connection).values_list("status", flat=True)) == [
        "succeeded"
    ]
    assert SupportTicket.objects.filter(source_key=connection.source_key).count() == 40
    assert max(running_at_once) <= 1
    assert len([m for m in drain("insights") if "recompute_pending" in m]) == 1
