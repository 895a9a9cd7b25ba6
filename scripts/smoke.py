"""Smoke test of `make run` on the embedded default: start it, wait for /healthz, log in as a PM,
load the overview, press Ctrl-C and check that no process is left behind."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"make run exited early with {proc.returncode}")
        try:
            response = requests.get(f"{base}/healthz", timeout=5)
            last = response.json()
            if response.status_code == 200 and all(v == "ok" for v in last.values()):
                return last
        except (requests.RequestException, ValueError):
            pass
        time.sleep(2)
    raise SystemExit(f"/healthz not ok within {timeout:.0f}s: {last}")


def log_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "/accounts/login/" not in response.url, "log-in failed"
    return session


def leftover(repo: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(repo) in line and "smoke.py" not in line]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    repo = args.repo.resolve()
    base = f"http://127.0.0.1:{args.port}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env["PORT"] = str(args.port)
    log = open(repo / "smoke-run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["make", "run"], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        started = time.monotonic()
        health = wait_healthy(base, proc, args.timeout)
        print(f"smoke: /healthz {health} after {time.monotonic() - started:.0f}s")
        session = log_in(base, "pm", "productops-pm")
        overview = session.get(f"{base}/", timeout=30)
        assert overview.status_code == 200, overview.status_code
        assert "Overview" in overview.text
        print(f"smoke: overview page {overview.status_code}, {len(overview.text)} bytes")
    except BaseException:
        log.flush()
        sys.stdout.write((repo / "smoke-run.log").read_text(errors="replace")[-6000:])
        raise
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise SystemExit("make run did not stop within 60s of Ctrl-C") from None
    time.sleep(1)
    left = leftover(repo)
    if left:
        raise SystemExit("processes left behind after Ctrl-C:\n" + "\n".join(left))
    print("smoke: stopped cleanly, no process left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
