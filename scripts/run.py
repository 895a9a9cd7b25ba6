"""`make run`: start the web server, one Celery worker and beat, and stop them all cleanly.

Each child runs in its own process group so that Ctrl-C or SIGTERM reaches the whole tree (the
worker's pool processes included), and nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def children(host: str, port: int) -> dict[str, list[str]]:
    queues = os.environ.get("CELERY_WORKER_QUEUES", "default,connectors,insights,email")
    return {
        "web": [PY, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [
            PY,
            "-m",
            "celery",
            "-A",
            "productops",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": [PY, "-m", "celery", "-A", "productops", "beat", "--loglevel", "INFO", "--pidfile", ""],
    }


def _set_in_dotenv(name: str, dotenv: Path) -> bool:
    if not dotenv.exists():
        return False
    for line in dotenv.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name and value.strip():
            return True
    return False


def child_env(host: str, port: int, environ: dict[str, str], dotenv: Path) -> dict[str, str]:
    """The children's environment: links in e-mails point at the address we serve on.

    SITE_URL set in the environment or in .env wins; otherwise it follows HOST and PORT, so
    `make run PORT=8100` sends digests whose links open port 8100 (the worker has no request to
    read the address from).
    """
    env = dict(environ)
    if not env.get("SITE_URL") and not _set_in_dotenv("SITE_URL", dotenv):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - not a bind
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        env["SITE_URL"] = f"http://{shown}:{port}"
    return env


def _die_with_parent() -> None:
    """In the child, before exec: if run.py itself is killed outright, the kernel stops the child too."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass  # not Linux: Ctrl-C and SIGTERM still stop everything through stop_all


def stop_all(procs: dict[str, subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            # The leader only: Celery's warm shutdown stops its own pool processes.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.1, deadline - time.monotonic()))
    for proc in procs.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group may outlive its leader; make sure
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    procs: dict[str, subprocess.Popen[bytes]] = {}
    env = child_env(args.host, args.port, dict(os.environ), ROOT / ".env")
    for name, cmd in children(args.host, args.port).items():
        procs[name] = subprocess.Popen(
            cmd, cwd=ROOT, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )

    url = f"http://{args.host}:{args.port}/"
    print(
        f"\n  productops is starting at {url}\n"
        "  Log in as the product-ops lead: lead / productops-lead\n"
        "  or as a PM:                     pm / productops-pm\n"
        f"  Health: {url}healthz   Stop: Ctrl-C\n",
        flush=True,
    )
    exit_code = 0
    try:
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping the rest.", file=sys.stderr)
                    exit_code = proc.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        print("Stopping productops...", flush=True)
        stop_all(procs)
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
