"""Production smoke test, without docker: the image's own commands, on a copy of the build context.

It reads what the image runs from the Dockerfile (the `collectstatic` RUN line, with its build-time
environment, and the gunicorn CMD) and from docker-compose.yml (the `migrate` service), then:

1. copies the build context (tracked and untracked, non-ignored files: what `COPY . .` sees) to a
   temporary directory;
2. runs collectstatic exactly as the Dockerfile does, then migrate, against a fresh PostgreSQL
   database, with PRODUCTOPS_ENV=production;
3. makes the first lead the documented way (`createsuperuser`, then `set_role … lead`);
4. starts gunicorn with production settings, behind a pretend TLS proxy (X-Forwarded-Proto: https,
   as docker-compose sets TRUST_X_FORWARDED_PROTO), and checks that the log-in page, a hashed static
   file, a log-in and two dashboard pages all answer 200.

Usage: python scripts/prod_smoke.py --port 8131 (DATABASE_URL must point at a PostgreSQL server; the
script creates and drops its own database there). Ends with one summary line.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.cookies
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
USERNAME, PASSWORD = "smoke-lead", "smoke-" + secrets.token_urlsafe(12)


class SmokeFailure(SystemExit):
    pass


def fail(message: str) -> SmokeFailure:
    return SmokeFailure(f"prod smoke: FAILED: {message}")


# --- What the image runs ------------------------------------------------------------------------


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def image_commands(dockerfile: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """(collectstatic's build-time env, collectstatic argv, the CMD argv) from the Dockerfile."""
    collect_env: dict[str, str] | None = None
    collect_cmd: list[str] = []
    cmd: list[str] = []
    for keyword, rest in _dockerfile_instructions(dockerfile.read_text()):
        if keyword == "RUN" and "collectstatic" in rest:
            tokens = shlex.split(rest)
            collect_env = {}
            while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
                name, _, value = tokens.pop(0).partition("=")
                collect_env[name] = value
            collect_cmd = tokens
        elif keyword == "CMD":
            cmd = json.loads(rest)
    if collect_env is None or not cmd:
        raise fail("the Dockerfile has no collectstatic RUN line or no CMD")
    return collect_env, collect_cmd, cmd


def compose_migrate(compose: Path) -> list[str]:
    services = yaml.safe_load(compose.read_text())["services"]
    command: list[str] = services["migrate"]["command"]
    return command


def _local(argv: list[str], port: int) -> list[str]:
    """The image's argv for this machine: our interpreter, our gunicorn, a local port, fewer workers."""
    out = list(argv)
    if out[0] == "python":
        out[0] = PY
    elif out[0] == "gunicorn":
        out[:1] = [PY, "-m", "gunicorn"]
    for flag, value in (("--bind", f"127.0.0.1:{port}"), ("--workers", "2")):
        if flag in out:
            out[out.index(flag) + 1] = value
    return out


# --- The build context and the database ---------------------------------------------------------


def copy_context(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = Path(raw.decode())
        source = ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    import psycopg

    parts = urlsplit(server_url)
    if not parts.scheme.startswith("postgres"):
        raise fail(f"DATABASE_URL must point at PostgreSQL, not {parts.scheme}://")
    name = f"po_prod_smoke_{os.getpid()}"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    admin = admin.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(argv: list[str], cwd: Path, env: dict[str, str], what: str, stdin: str | None = None) -> None:
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise fail(f"{what} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    print(f"  {what}: ok ({time.monotonic() - started:.1f}s)", flush=True)


# --- HTTP, as a browser behind the TLS proxy would send it ---------------------------------------


class Browser:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.origin = f"https://127.0.0.1:{port}"

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"X-Forwarded-Proto": "https", "Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers.update(
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Origin": self.origin,
                    "Referer": self.origin + path,
                }
            )
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
                jar.load(value)
                self.cookies.update({k: m.value for k, m in jar.items()})
        conn.close()
        return response.status, text, dict(response.getheaders())


def expect(status: int, text: str, path: str, wanted: int = 200) -> None:
    if status != wanted:
        raise fail(f"GET {path} answered {status}, expected {wanted}:\n{text[:1500]}")


def check_site(port: int) -> list[str]:
    browser = Browser(port)
    status, page, _ = browser.request("GET", "/accounts/login/")
    expect(status, page, "/accounts/login/")
    static = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    hashed = [s for s in static if re.search(r"\.[0-9a-f]{12}\.\w+$", s)]
    if not hashed:
        raise fail(f"the log-in page links no hashed static file (no manifest?): {static}")
    status, body, _ = browser.request("GET", hashed[0])
    expect(status, body, hashed[0])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not token:
        raise fail("no CSRF token on the log-in page")
    status, body, headers = browser.request(
        "POST",
        "/accounts/login/",
        {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    location = headers.get("Location", "")
    if status != 302 or "/accounts/login/" in location:
        raise fail(f"log-in answered {status} (Location {location!r}):\n{body[:1500]}")
    checked = ["/accounts/login/", hashed[0], "POST /accounts/login/"]
    for path in ("/", "/support/", "/connectors/", "/accounts/users/"):
        status, body, _ = browser.request("GET", path)
        expect(status, body, path)
        checked.append(path)
    return checked


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise fail(f"gunicorn exited with {proc.returncode}")
        # A bare connect: /healthz would answer 503 here (no Celery worker runs in this smoke test).
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            return
        time.sleep(0.3)
    raise fail(f"gunicorn did not listen on port {port} within {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "")
    started = time.monotonic()

    collect_env, collect_cmd, cmd = image_commands(ROOT / "Dockerfile")
    migrate = compose_migrate(ROOT / "docker-compose.yml")
    from cryptography.fernet import Fernet

    with tempfile.TemporaryDirectory(prefix="po-prod-smoke-") as tmp, scratch_database(server) as db_url:
        app = Path(tmp) / "app"
        copy_context(app)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PRODUCTOPS_"))}
        base.update(
            {
                "PRODUCTOPS_ENV": "production",
                "PRODUCTOPS_VAR_DIR": str(Path(tmp) / "var"),
                "SECRET_KEY": secrets.token_urlsafe(50),
                "FERNET_KEYS": Fernet.generate_key().decode(),
                "ALLOWED_HOSTS": "127.0.0.1",
                "DATABASE_URL": db_url,
                "TRUST_X_FORWARDED_PROTO": "true",
                "EMAIL_URL": "consolemail://",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        base.pop("SITE_URL", None)
        run(_local(collect_cmd, args.port), app, {**base, **collect_env}, "collectstatic (Dockerfile)")
        run(_local(migrate, args.port), app, base, "migrate (compose)")
        run(
            [PY, "manage.py", "createsuperuser", "--noinput", "--username", USERNAME, "--email", "s@x.test"],
            app,
            {**base, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            "createsuperuser",
        )
        run([PY, "manage.py", "set_role", USERNAME, "lead"], app, base, "set_role lead")
        web = subprocess.Popen(_local(cmd, args.port), cwd=app, env=base, start_new_session=True)
        try:
            wait_listening(args.port, web)
            checked = check_site(args.port)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(web.pid, signal.SIGTERM)
            try:
                web.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(web.pid, signal.SIGKILL)
                web.wait()
    print(
        f"prod_smoke: ok pages={len(checked)} seconds={time.monotonic() - started:.1f} ({', '.join(checked)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
