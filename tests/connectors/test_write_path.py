"""The one post-write step and the scoped, coalesced, claimed recompute it queues."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import pytest
from django.db import connection as db

from connectors.models import Connection
from connectors.sync import run_sync
from insights import recompute
from insights.feedback.models import ThemeMember
from insights.models import PendingRecompute, RecomputeClaim
from productops.core.versions import current
from productops.signals.models import SupportTicket
from tests.insights.factories import make_product, make_tickets

from .broker import drain


@pytest.fixture
def probe() -> Any:
    """A recompute hook that records every scope it is called with, and when."""
    calls: list[tuple[recompute.RecomputeScope, float, float]] = []

    def hook(scope: recompute.RecomputeScope) -> None:
        started = time.monotonic()
        time.sleep(0.2)
        calls.append((scope, started, time.monotonic()))

    recompute.on_change("test_write_path_probe", {"tickets"})(hook)
    yield calls
    recompute._HOOKS.pop("test_write_path_probe", None)


@pytest.mark.django_db
def test_a_tickets_sync_for_one_product_recomputes_only_that_product(
    probe: Any, django_capture_on_commit_callbacks: Any
) -> None:
    atlas, zephyr = make_product("atlas"), make_product("zephyr")
    make_tickets(zephyr, per_topic=5)  # another product's tickets, never scored by this sync's recompute
    connection = Connection.objects.create(
        name="atlas desk",
        kind="slow_counter_test",
        product=atlas,
        config={"total": 30, "page_size": 10, "delay": 0},
    )
    drain("insights")
    version = current()
    with django_capture_on_commit_callbacks(execute=True):
        assert run_sync(connection.pk).outcome == "succeeded"
    assert current() != version  # the data version moved: cached pages are rebuilt
    queued = drain("insights")
    assert len(queued) == 1 and "recompute_pending" in queued[0]
    assert list(PendingRecompute.objects.values_list("product_key", "family")) == [(atlas.pk, "tickets")]

    result = recompute.run_pending()

    assert set(result.products) == {atlas.pk}
    assert "feedback" in result.products[atlas.pk] and "test_write_path_probe" in result.products[atlas.pk]
    assert [scope.product_ids for scope, _, _ in probe] == [{atlas.pk}]
    assert probe[0][0].families == {"tickets"} and probe[0][0].since is not None
    assert not SupportTicket.objects.filter(product=atlas, sentiment__isnull=True).exists()
    assert SupportTicket.objects.filter(product=zephyr, sentiment__isnull=False).count() == 0
    assert not PendingRecompute.objects.exists() and not RecomputeClaim.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_recomputes_of_one_product_coalesce_and_never_overlap(probe: Any) -> None:
    product = make_product("atlas")
    make_tickets(product, per_topic=10)
    barrier = threading.Barrier(4)

    def worker(_: int) -> recompute.PendingResult:
        try:
            barrier.wait()
            recompute.request({"tickets"}, {product.pk})
            return recompute.run_pending()
        finally:
            db.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(worker, range(4)))

    # One product is recomputed by one worker at a time: the probe's runs never overlap.
    spans = sorted((start, end) for _, start, end in probe)
    assert spans and all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    # Four requests coalesced: fewer runs than requests, and nothing is left pending.
    assert 1 <= len(spans) < 4
    # Workers that found the product claimed left their requests to the claimant, which ran them.
    assert any(r.products for r in results)
    assert not PendingRecompute.objects.exists() and not RecomputeClaim.objects.exists()
    # The result is the one a single recompute gives: each ticket in at most one theme, every one scored.
    members = list(ThemeMember.objects.filter(product=product).values_list("object_id", flat=True))
    assert members and len(members) == len(set(members))
    assert not SupportTicket.objects.filter(product=product, sentiment__isnull=True).exists()


@pytest.mark.django_db
def test_an_expired_claim_is_taken_over_and_a_live_one_is_not() -> None:
    from datetime import timedelta

    from django.utils import timezone

    first = recompute.Claim(7)
    assert first.acquire()
    assert not recompute.Claim(7).acquire()
    RecomputeClaim.objects.filter(product_key=7).update(expires_at=timezone.now() - timedelta(seconds=1))
    second = recompute.Claim(7)
    assert second.acquire()  # the first worker died: its claim expired
    first.release()  # a late release by the dead owner removes nothing
    assert RecomputeClaim.objects.filter(product_key=7, owner=second.owner).exists()


@pytest.mark.django_db
def test_the_full_recompute_takes_the_work_requested_before_it(probe: Any) -> None:
    product = make_product("atlas")
    recompute.request({"tickets"}, {product.pk})
    ran = recompute.run_full()
    assert "test_write_path_probe" in ran
    assert [scope.full for scope, _, _ in probe] == [True]  # once, in full: not again for the product
    assert not PendingRecompute.objects.exists() and not RecomputeClaim.objects.exists()


@pytest.mark.django_db
def test_a_recompute_message_from_before_the_upgrade_still_runs(probe: Any) -> None:
    from insights.tasks import recompute_after_sync

    result = recompute_after_sync(None, ["tickets"])
    assert "test_write_path_probe" in result["0"] and "feedback" in result["0"]
    assert [scope.product_ids for scope, _, _ in probe] == [set()]  # unscoped, as such messages were
    assert not PendingRecompute.objects.exists()
