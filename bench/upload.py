"""Benchmark: upload a 1,000,000-row CSV to a "CSV file" connection; a real worker imports it.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python bench/upload.py [--rows 1000000]

Issue 15 #9: the same file took 46 s inside the request and was cut off by gunicorn's timeout with
180,000 rows committed. Here the request (the connection's upload view, through Django's WSGI handler
in-process: the multipart parse, the header check, storing the file, queueing the job) only queues the
import; a Celery worker (`celery -A productops worker -Q default`, prefork, as deployed) imports it in
IMPORT_BATCH_ROWS batches. The file is tickets (`id,opened at`, about 18 MB: within the 20 MB limit).
Ends with the summary line:

    upload: rows=R request_ms=M rows_written_in_request=0 import_s=S rows_per_s=P worker_peak_rss_mb=X
            worker_cpu_s=C bytes=B

`rows_written_in_request` is the connection's rows counted the moment the response returns (the worker
needs seconds to validate the file before its first batch, so this is the request's own writes);
`import_s` runs from the response to the job's success (queue pickup and validation included);
`worker_peak_rss_mb` is the peak resident memory (VmHWM) of the worker process that ran the task, and
`worker_cpu_s` its CPU time. `request_ms` is measured warm (after a 3-row upload has gone through, as on a running server); the
first request of a cold process also pays the imports of every view and the broker client (about 9 s
here). The bench connection, its rows and the user are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")


def write_file(path: Path, rows: int) -> int:
    with path.open("w") as f:
        f.write("id,opened at\n")
        for i in range(rows):
            f.write(f"{i},2026-{1 + i % 12:02d}-{1 + i % 28:02d}\n")
    return path.stat().st_size


def descendants(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += [int(child), *descendants(int(child))]
    except OSError:
        pass
    return out


def proc_stats(pid: int) -> tuple[float, float]:
    """(VmHWM in MB, user+system CPU seconds) of one process."""
    hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm, (int(fields[11]) + int(fields[12])) / ticks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from connectors.models import Connection, SyncRun
    from productops.accounts.roles import Role
    from productops.accounts.services import create_user
    from productops.signals.models import ImportJob, ImportStatus, SupportTicket

    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    path = tmp / "tickets.csv"
    size = write_file(path, args.rows)
    if size > settings.CSV_IMPORT_MAX_BYTES:
        raise SystemExit(
            f"the file is {size} bytes, over CSV_IMPORT_MAX_BYTES={settings.CSV_IMPORT_MAX_BYTES}"
        )

    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="bench-upload-lead").delete()
    Connection.objects.filter(name="bench upload").delete()
    lead = create_user("bench-upload-lead", "bench-upload@example.com", "bench-upload-pass-1!", Role.LEAD)
    connection = Connection.objects.create(name="bench upload", kind="csv_tickets", schedule_kind="manual")
    SupportTicket.objects.filter(source_key=connection.source_key).delete()

    log = (tmp / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "productops", "worker", "-Q", "default"),
            *("--concurrency", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"),
            *("-n", f"bench-upload-{os.getpid()}@%h"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        client = Client(HTTP_HOST="localhost")
        client.force_login(lead)
        # Warm up as a running server is warm: the views imported, the broker connection open. A 3-row
        # upload goes through the worker first (which also lets the worker finish booting).
        warm = client.post(
            reverse("connectors:upload", args=[connection.pk]),
            {
                "file": SimpleUploadedFile(
                    "warm.csv", b"id,opened at\nw1,2026-01-01\nw2,2026-01-02\nw3,2026-01-03\n"
                )
            },
        )
        if warm.status_code != 302:
            raise SystemExit(f"the warm-up upload returned {warm.status_code}")
        deadline = time.monotonic() + 300
        while ImportJob.objects.filter(connection=connection, status__in=["queued", "running"]).exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the warm-up import did not finish")
            time.sleep(0.2)
        SupportTicket.objects.filter(source_key=connection.source_key).delete()
        data = path.read_bytes()
        started = time.perf_counter()
        response = client.post(
            reverse("connectors:upload", args=[connection.pk]),
            {"file": SimpleUploadedFile("tickets.csv", data, content_type="text/csv")},
        )
        request_ms = (time.perf_counter() - started) * 1000
        in_request = SupportTicket.objects.filter(source_key=connection.source_key).count()
        done_at = time.perf_counter()
        if response.status_code != 302:
            raise SystemExit(f"the upload returned {response.status_code}")
        job = ImportJob.objects.filter(connection=connection).latest("pk")
        peak, cpu = 0.0, 0.0
        while True:
            job.refresh_from_db()
            for pid in descendants(worker.pid):
                try:
                    hwm, used = proc_stats(pid)
                except OSError:
                    continue
                peak, cpu = max(peak, hwm), max(cpu, used)
            if not job.is_active:
                break
            if worker.poll() is not None:
                raise SystemExit("the worker exited")
            time.sleep(0.2)
        import_s = time.perf_counter() - done_at
        if job.status != ImportStatus.SUCCEEDED:
            raise SystemExit(f"the import {job.status}: {job.error_message}")
        stored = SupportTicket.objects.filter(source_key=connection.source_key).count()
        if stored != args.rows or job.rows_done != args.rows:
            raise SystemExit(f"{stored} rows stored, {job.rows_done} committed, of {args.rows}")
        run = SyncRun.objects.get(pk=job.run_id)
        print(
            f"bench upload: run {run.pk} {run.status}, {run.pages} batches, job attempts {job.attempts}",
            file=sys.stderr,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        SupportTicket.objects.filter(source_key=connection.source_key).delete()
        connection.delete()
        lead.delete()
    print(
        f"upload: rows={args.rows} request_ms={request_ms:.0f} rows_written_in_request={in_request} "
        f"import_s={import_s:.1f} rows_per_s={args.rows / import_s:.0f} worker_peak_rss_mb={peak:.0f} "
        f"worker_cpu_s={cpu:.1f} bytes={size}"
    )


if __name__ == "__main__":
    main()
