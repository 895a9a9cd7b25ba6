"""Benchmark: SIGKILL a real Celery worker mid-sync N times (default 20), then let a sync finish.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... \
        python bench/connectors_kill_resync.py [--rounds 20]

Each round starts a worker (`celery -A productops worker -Q connectors --pool=solo`) on the same
database and broker, queues `connectors.tasks.sync_connection`, waits until the run has committed two
more pages, and SIGKILLs the worker's process group. After the last round a fresh worker completes the
sync. The slow source is `slow_counter_test` (tests/connectors/sources.py): numbered records, a page
every `--delay` seconds. Checks: the cursor always equals the committed rows, and at the end every
record is present exactly once. Ends with the summary line:
    connectors_kill_resync: rounds=N records=R missing=0 duplicates=0 abandoned=N resume_s_median=S wall_s=W
where resume_s is the time from a kill to the next worker's first committed page (worker start-up
included). Then, unless --no-takeover, one more round measures issue 15 #7: two workers run, the one
syncing is SIGKILLed, and nothing else happens (no new message, no restart): the survivor's watchdog
sees the dead worker's heartbeat go stale and takes the run over. The line then ends with
    takeover_s=T takeover_missing=0 takeover_duplicates=0
where takeover_s is the time from the kill to the sync's completion. The bench connection and its rows
are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")
os.environ["PRODUCTOPS_EXTRA_CONNECTORS"] = "tests.connectors.sources"


def wait_for(check: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--page-size", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--no-takeover", dest="takeover", action="store_false")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection as db

    if db.vendor != "postgresql":
        raise SystemExit("set DATABASE_URL to postgres://... (the bench measures the production stack)")
    call_command("migrate", verbosity=0)

    from connectors.models import Connection, RunStatus, SyncRun
    from connectors.services import delete_connection
    from connectors.tasks import sync_connection
    from productops.signals.models import SupportTicket
    from tests.connectors.broker import drain, forget_unacked

    Connection.objects.filter(name="bench kill-resync").delete()
    connection = Connection.objects.create(
        name="bench kill-resync",
        kind="slow_counter_test",
        schedule_kind="manual",
        config={"total": args.records, "page_size": args.page_size, "delay": args.delay},
    )
    drain()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = Path(tempfile.mkdtemp(prefix="kill-resync-"))

    def start(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "productops",
                "worker",
                "-Q",
                "connectors",
                "--pool=solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "warning",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=(logs / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def pages() -> int:
        return sum(SyncRun.objects.filter(connection=connection).values_list("pages", flat=True))

    def rows() -> int:
        return SupportTicket.objects.filter(source_key=connection.source_key).count()

    resume: list[float] = []
    started = time.monotonic()
    killed_at: float | None = None
    try:
        for round_no in range(args.rounds):
            before = pages()
            worker = start(f"bench{round_no}")
            sync_connection.delay(connection.pk)
            wait_for(lambda b=before: pages() >= b + 1, "a committed page")  # type: ignore[misc]
            if killed_at is not None:
                resume.append(time.monotonic() - killed_at)
            wait_for(lambda b=before: pages() >= b + 2, "a second committed page")  # type: ignore[misc]
            os.killpg(worker.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            worker.wait()
            connection.refresh_from_db()
            if connection.cursors["tickets"]["offset"] != rows():
                raise SystemExit(f"round {round_no}: cursor {connection.cursors} but {rows()} rows committed")
        final = start("bench-final")
        sync_connection.delay(connection.pk)
        wait_for(
            lambda: SyncRun.objects.filter(connection=connection, status=RunStatus.SUCCEEDED).exists(),
            "the final sync",
        )
        os.killpg(final.pid, signal.SIGKILL)
        final.wait()
        wall = time.monotonic() - started

        ids = list(
            SupportTicket.objects.filter(source_key=connection.source_key).values_list(
                "external_id", flat=True
            )
        )
        expected = {f"t{i}" for i in range(args.records)}
        missing = len(expected - set(ids))
        duplicates = len(ids) - len(set(ids))
        abandoned = SyncRun.objects.filter(connection=connection, status=RunStatus.ABANDONED).count()
        takeover = ""
        if args.takeover:
            takeover = measure_takeover(start, args)
    finally:
        drain()
        drain("insights")
        if settings.CELERY_BROKER_URL.startswith("redis"):
            forget_unacked("connectors.tasks.sync_connection")
        delete_connection(Connection.objects.get(pk=connection.pk), purge=True)

    print(f"rounds={args.rounds} records={len(ids)} expected={args.records} abandoned runs={abandoned}")
    print(
        f"connectors_kill_resync: rounds={args.rounds} records={len(ids)} missing={missing} "
        f"duplicates={duplicates} abandoned={abandoned} resume_s_median={statistics.median(resume) if resume else 0:.2f} "
        f"wall_s={wall:.1f}{takeover}"
    )


def measure_takeover(start: Callable[[str], subprocess.Popen[bytes]], args: argparse.Namespace) -> str:
    from connectors.models import Connection, RunStatus, SyncRun
    from connectors.services import delete_connection
    from connectors.tasks import sync_connection
    from productops.signals.models import SupportTicket

    Connection.objects.filter(name="bench takeover").delete()
    connection = Connection.objects.create(
        name="bench takeover",
        kind="slow_counter_test",
        schedule_kind="manual",
        config={"total": args.records, "page_size": args.page_size, "delay": args.delay},
    )
    workers = {"bench-a": start("bench-a"), "bench-b": start("bench-b")}
    try:
        sync_connection.delay(connection.pk)
        wait_for(
            lambda: sum(SyncRun.objects.filter(connection=connection).values_list("pages", flat=True)) >= 2,
            "the takeover round's first pages",
        )
        run = SyncRun.objects.get(connection=connection, status=RunStatus.RUNNING)
        victim = workers[run.worker.split("@")[0]]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        killed = time.monotonic()
        wait_for(
            lambda: SyncRun.objects.filter(connection=connection, status=RunStatus.SUCCEEDED).exists(),
            "the takeover to complete the sync",
        )
        took = time.monotonic() - killed
        ids = list(
            SupportTicket.objects.filter(source_key=connection.source_key).values_list(
                "external_id", flat=True
            )
        )
        missing = len({f"t{i}" for i in range(args.records)} - set(ids))
        duplicates = len(ids) - len(set(ids))
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        delete_connection(Connection.objects.get(pk=connection.pk), purge=True)
    return f" takeover_s={took:.1f} takeover_missing={missing} takeover_duplicates={duplicates}"


if __name__ == "__main__":
    main()
