"""Sending: each user's hour in their timezone, exactly once, SMTP failure and retry, a crashed claim."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from productops.digests import services, tasks
from productops.digests.models import Delivery, DeliveryStatus, Weekday

from .conftest import make_subscriber

UTC = dt.UTC
WEEK = "2026-W48"  # Monday 23 to Sunday 29 November 2026


def _to(user: Any) -> int:
    return sum(m.to == [user.email] for m in mail.outbox)


def _mark_last_week_sent(*users: Any) -> None:
    """They got last week's digest, so only this week's is due."""
    for user in users:
        Delivery.objects.create(user=user, week="2026-W47", status=DeliveryStatus.SENT, attempts=1)


@pytest.mark.django_db
def test_three_timezones_each_get_exactly_one_digest_in_their_hour(eager_celery: None) -> None:
    bob = make_subscriber("bob", "Asia/Tokyo", Weekday.MONDAY, 9)  # 00:00 UTC Monday
    alice = make_subscriber("alice", "America/New_York", Weekday.MONDAY, 9)  # 14:00 UTC Monday (EST)
    carol = make_subscriber("carol", "Asia/Kolkata", Weekday.FRIDAY, 17)  # 11:30 UTC Friday
    off = make_subscriber("dave", "Europe/Berlin", Weekday.MONDAY, 9, enabled=False)
    _mark_last_week_sent(alice, bob, carol, off)

    received: dict[str, list[dt.datetime]] = {}
    # Beat's hourly run (minute 1), from before the first user's week starts to before Bob's next one.
    run = dt.datetime(2026, 11, 22, 12, 1, tzinfo=UTC)
    while run < dt.datetime(2026, 11, 29, 15, 0, tzinfo=UTC):
        before = len(mail.outbox)
        with time_machine.travel(run, tick=False):
            tasks.send_due_digests.delay()
        for message in mail.outbox[before:]:
            received.setdefault(message.to[0], []).append(run)
        run += dt.timedelta(hours=1)

    assert received == {
        "bob@example.com": [dt.datetime(2026, 11, 23, 0, 1, tzinfo=UTC)],
        "alice@example.com": [dt.datetime(2026, 11, 23, 14, 1, tzinfo=UTC)],
        "carol@example.com": [dt.datetime(2026, 11, 27, 12, 1, tzinfo=UTC)],
    }
    # Each arrived within the user's chosen local hour.
    for user, tz in ((bob, "Asia/Tokyo"), (alice, "America/New_York"), (carol, "Asia/Kolkata")):
        local = received[user.email][0].astimezone(__import__("zoneinfo").ZoneInfo(tz))
        assert (local.weekday(), local.hour) == (user.digest.weekday, user.digest.hour)
    rows = Delivery.objects.filter(week=WEEK).values_list("user__username", "status", "attempts")
    assert sorted(rows) == [("alice", "sent", 1), ("bob", "sent", 1), ("carol", "sent", 1)]


@pytest.mark.django_db
def test_a_missed_hour_still_sends_later_that_week_once(eager_celery: None) -> None:
    alice = make_subscriber("alice", "America/New_York", Weekday.MONDAY, 9)
    _mark_last_week_sent(alice)
    # Beat was down on Monday; the first run on Tuesday sends, the ones after do not.
    for hour in (3, 4, 5):
        with time_machine.travel(dt.datetime(2026, 11, 24, hour, 1, tzinfo=UTC), tick=False):
            tasks.send_due_digests.delay()
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_smtp_failure_then_retry_sends_exactly_once(eager_celery: None, smtp_server: Any) -> None:
    from productops.celery import app as celery_app

    handler, _ = smtp_server
    handler.refuse_first = 1
    alice = make_subscriber("alice", "UTC", Weekday.MONDAY, 9)
    # Propagating would raise celery's Retry here; a worker (like eager apply without it) runs the retry.
    celery_app.conf.task_eager_propagates = False

    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC), tick=False):
        outcome = tasks.send_digest.delay(alice.pk, WEEK).get()
        again = tasks.send_digest.delay(alice.pk, WEEK).get()  # a duplicate task, e.g. a redelivery

    assert handler.data_commands == 2  # refused once, accepted once
    assert len(handler.messages) == 1
    assert (outcome, again) == ("sent", "done")
    row = Delivery.objects.get(user=alice, week=WEEK)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert "451" in row.error  # the failure stays visible in the delivery log


@pytest.mark.django_db
def test_failed_send_is_reported_and_the_next_run_sends_it(smtp_server: Any, lead_client: Any) -> None:
    handler, _ = smtp_server
    handler.refuse_first = 1
    alice = make_subscriber("alice", "UTC", Weekday.MONDAY, 9)
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 1, tzinfo=UTC), tick=False):
        with pytest.raises(services.DeliveryFailed):
            services.deliver_digest(alice.pk, WEEK)
        page = lead_client.get("/digests/log/").content.decode()
        assert "Failed sends" in page and "451" in page
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 1, tzinfo=UTC), tick=False):
        call_command("send_digests")
        call_command("send_digests")
    # The lead (logged in above) is a subscriber too; Alice's digest went out exactly once.
    assert sum(b"To: alice@example.com" in m for m in handler.messages) == 1


@pytest.mark.django_db
def test_worker_killed_after_claim_is_reported_then_resent(eager_celery: None, lead_client: Any) -> None:
    alice = make_subscriber("alice", "UTC", Weekday.MONDAY, 9)
    _mark_last_week_sent(alice)
    claimed_at = dt.datetime(2026, 11, 23, 9, 1, tzinfo=UTC)
    with time_machine.travel(claimed_at, tick=False):
        # The worker claims the row and dies before talking to the mail server.
        assert services.claim_delivery(alice.pk, WEEK) is not None
        tasks.send_due_digests.delay()  # a live claim is left alone
        assert _to(alice) == 0
        assert "Interrupted sends" not in lead_client.get("/digests/log/").content.decode()

    with time_machine.travel(claimed_at + dt.timedelta(minutes=20), tick=False):
        page = lead_client.get("/digests/log/").content.decode()
        assert "Interrupted sends" in page and "alice" in page
    with time_machine.travel(claimed_at + dt.timedelta(hours=1), tick=False):
        tasks.send_due_digests.delay()
        tasks.send_due_digests.delay()

    assert _to(alice) == 1
    row = Delivery.objects.get(user=alice, week=WEEK)
    assert (row.status, row.attempts, row.recovered) == (DeliveryStatus.SENT, 2, True)
    assert "never finished" in row.error
    log_page = lead_client.get("/digests/log/").content.decode()
    assert "Interrupted sends" not in log_page and "Recovered" in log_page and "alice@example.com" in log_page


@pytest.mark.django_db
def test_a_live_claim_cannot_be_claimed_twice() -> None:
    alice = make_subscriber("alice", "UTC")
    first = services.claim_delivery(alice.pk, WEEK)
    assert first is not None
    assert services.claim_delivery(alice.pk, WEEK) is None
    assert services.mark_sent(first, "subject", 3)
    assert services.claim_delivery(alice.pk, WEEK) is None


@pytest.mark.django_db
def test_only_when_notable_skips_a_quiet_week_and_records_it(eager_celery: None) -> None:
    quiet = make_subscriber("quiet", "UTC", Weekday.MONDAY, 9, only_notable=True)
    loud = make_subscriber("loud", "UTC", Weekday.MONDAY, 9)
    _mark_last_week_sent(quiet, loud)
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 1, tzinfo=UTC), tick=False):
        tasks.send_due_digests.delay()
        tasks.send_due_digests.delay()
    assert [m.to for m in mail.outbox] == [["loud@example.com"]]
    assert "All quiet" in mail.outbox[0].subject
    assert Delivery.objects.get(user=quiet, week=WEEK).status == DeliveryStatus.SKIPPED


@pytest.mark.django_db
def test_send_digests_command_dry_run_user_and_week(capsys: Any) -> None:
    alice = make_subscriber("alice", "UTC")
    make_subscriber("bob", "UTC")
    with time_machine.travel(dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False):
        call_command("send_digests", "--dry-run", "--week", WEEK)
        assert "would send alice@example.com 2026-W48" in capsys.readouterr().out
        assert len(mail.outbox) == 0 and not Delivery.objects.exists()

        call_command("send_digests", "--user", "alice@example.com", "--week", WEEK)
        call_command("send_digests", "--user", "alice@example.com", "--week", WEEK)
    assert [m.to for m in mail.outbox] == [[alice.email]]
    assert "sent alice@example.com" in capsys.readouterr().out


@pytest.mark.django_db
def test_send_digests_command_rejects_a_bad_week() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-Www"):
        call_command("send_digests", "--week", "2026-48")


def test_beat_runs_the_fan_out_hourly_on_a_crontab_and_sends_route_to_the_email_queue() -> None:
    from celery.schedules import crontab

    from productops.celery import BEAT_SCHEDULE
    from productops.celery import app as celery_app

    entry = next(
        e for e in BEAT_SCHEDULE.values() if e["task"] == "productops.digests.tasks.send_due_digests"
    )
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == set(range(24)) and len(entry["schedule"].minute) == 1
    for name in ("productops.digests.tasks.send_digest", "productops.digests.tasks.send_due_digests"):
        assert name in celery_app.tasks
        assert celery_app.amqp.router.route({}, name)["queue"].name == "email"


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_have_exactly_one_winner() -> None:
    import threading

    from django.db import connection

    alice = make_subscriber("alice", "UTC")
    barrier = threading.Barrier(4)
    wins: list[bool] = []

    def claim() -> None:
        try:
            barrier.wait()
            wins.append(services.claim_delivery(alice.pk, WEEK) is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    assert Delivery.objects.get(user=alice, week=WEEK).attempts == 1
