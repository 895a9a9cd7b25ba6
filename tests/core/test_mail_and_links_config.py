"""The default mail directory is the absolute var/mail, and `make run PORT=…` puts that port in e-mail links."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _settings(env: dict[str, str], *names: str) -> list[str]:
    # The app's own settings (manage.py's default), not the suite's tests.settings, which moves the var dir.
    dropped = {"EMAIL_URL", "SITE_URL", "PRODUCTOPS_VAR_DIR", "DJANGO_SETTINGS_MODULE"}
    full = {k: v for k, v in os.environ.items() if k not in dropped}
    full.update(env)
    code = "from django.conf import settings; " + "; ".join(f"print(settings.{n})" for n in names)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-len(names) :]


def test_default_mail_dir_is_absolute_under_the_var_dir(tmp_path: Path) -> None:
    backend, path = _settings({"PRODUCTOPS_VAR_DIR": str(tmp_path)}, "EMAIL_BACKEND", "EMAIL_FILE_PATH")
    assert backend == "django.core.mail.backends.filebased.EmailBackend"
    assert path == str(tmp_path / "mail")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("filemail:///srv/productops/mail", "/srv/productops/mail"),
        ("filemail://var/outbox", str(ROOT / "var" / "outbox")),
    ],
)
def test_filemail_urls_keep_their_path(url: str, expected: str, tmp_path: Path) -> None:
    (path,) = _settings({"EMAIL_URL": url, "PRODUCTOPS_VAR_DIR": str(tmp_path)}, "EMAIL_FILE_PATH")
    assert path == expected


def test_smtp_urls_still_parse(tmp_path: Path) -> None:
    host, port, tls = _settings(
        {"EMAIL_URL": "smtp://u:p@mail.example.com:587/?tls=True", "PRODUCTOPS_VAR_DIR": str(tmp_path)},
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_USE_TLS",
    )
    assert (host, port, tls) == ("mail.example.com", "587", "True")


def _run_module() -> Any:
    spec = importlib.util.spec_from_file_location("productops_run", ROOT / "scripts" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_run_port_reaches_site_url(tmp_path: Path) -> None:
    run = _run_module()
    no_dotenv = tmp_path / ".env"
    env = run.child_env("127.0.0.1", 8100, {"PATH": "/bin"}, no_dotenv)
    assert env["SITE_URL"] == "http://127.0.0.1:8100" and env["PATH"] == "/bin"
    assert run.child_env("0.0.0.0", 9000, {}, no_dotenv)["SITE_URL"] == "http://127.0.0.1:9000"  # noqa: S104
    assert run.child_env("::1", 9000, {}, no_dotenv)["SITE_URL"] == "http://[::1]:9000"
    # An explicit SITE_URL wins, from the environment or from .env; an empty one does not count.
    assert (
        run.child_env("127.0.0.1", 8100, {"SITE_URL": "https://po.example.com"}, no_dotenv)["SITE_URL"]
        == "https://po.example.com"
    )
    no_dotenv.write_text("SITE_URL=https://from-dotenv.example.com\n")
    assert "SITE_URL" not in run.child_env("127.0.0.1", 8100, {}, no_dotenv)
    no_dotenv.write_text("SITE_URL=\n")
    assert (
        run.child_env("127.0.0.1", 8100, {"SITE_URL": ""}, no_dotenv)["SITE_URL"] == "http://127.0.0.1:8100"
    )


def test_digest_links_use_the_site_url_the_worker_gets(tmp_path: Path) -> None:
    run = _run_module()
    env = run.child_env("127.0.0.1", 8100, {"PRODUCTOPS_VAR_DIR": str(tmp_path)}, tmp_path / ".env")
    code = "from productops.digests import links; print(links.absolute('/'))"
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "SITE_URL"}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.strip()
    assert out.splitlines()[-1] == "http://127.0.0.1:8100/"
