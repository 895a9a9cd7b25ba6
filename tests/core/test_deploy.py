"""Production settings and the docker-compose description of production."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "PRODUCTOPS_ENV": "production",
    "SECRET_KEY": "x7#kq9!vL2@pR5$wZ8^mN3&bT6*cY1(hJ4)fG0-dS+aE=uI_oP|lK~jH",
    "FERNET_KEYS": "ZmFrZS1rZXktZm9yLXRlc3RzLW9ubHktMDAwMDAwMDA=",
    "ALLOWED_HOSTS": "productops.example.com",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "FERNET_KEYS", "PRODUCTOPS_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    full.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_has_no_warnings() -> None:
    result = _manage("check", "--deploy", env=PROD_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stderr


def test_production_refuses_to_start_without_secret_key() -> None:
    env = {**PROD_ENV, "SECRET_KEY": ""}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_fernet_keys() -> None:
    result = _manage("check", env={**PROD_ENV, "FERNET_KEYS": ""})
    assert result.returncode != 0
    assert "FERNET_KEYS must be set" in result.stderr


def _settings_env_names() -> set[str]:
    source = (ROOT / "productops" / "settings.py").read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z_]+)["']""", source))


def test_env_example_lists_every_variable_the_settings_read() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = _settings_env_names()
    assert read - listed == set(), f"settings read variables missing from .env.example: {read - listed}"
    assert listed - read == set(), f".env.example lists variables nothing reads: {listed - read}"


def test_compose_sets_only_variables_the_settings_read_and_commands_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert any("mail" in name or "smtp" in name for name in services), "no SMTP sink"
    read = _settings_env_names()
    for name in ("web", "worker", "beat"):
        service = services[name]
        unknown = set(service["environment"]) - read
        assert unknown == set(), f"{name} sets variables the settings never read: {unknown}"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["CELERY_BROKER_URL"].startswith("redis://")
    web = services["web"]["command"]
    assert web[0] == "gunicorn"
    module, attr = web[1].split(":")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")
    assert hasattr(importlib.import_module(module), attr)
    for name, sub in (("worker", "worker"), ("beat", "beat")):
        cmd = services[name]["command"]
        assert cmd[:3] == ["celery", "-A", "productops"] and cmd[3] == sub
    queues = services["worker"]["command"][services["worker"]["command"].index("-Q") + 1].split(",")
    from django.conf import settings

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= set(queues)
    assert (ROOT / "Dockerfile").exists()
    assert "gunicorn" in (ROOT / "pyproject.toml").read_text()


def test_readme_documents_every_variable_the_settings_read() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in _settings_env_names() if f"`{name}`" not in readme)
    assert missing == [], f"README's configuration table lacks {missing}"
