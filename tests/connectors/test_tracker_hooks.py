"""Tracker webhooks nudge an incremental sync; the tool's own signature is checked when a secret is set."""

from __future__ import annotations

import hashlib
import hmac
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from connectors.models import Connection, SyncRun
from connectors.tracker_hooks import ensure_hook

from .portfolio_sync import make_connection, make_teams

BODY = json.dumps({"action": "edited", "issue": {"id": 5003}}).encode()


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    return make_teams()


def tracker(kind: str, secret: str = "") -> Connection:
    scope = {"github": "acme/app", "gitlab": "group:acme"}.get(kind, "ENG")
    secrets = {"token": "t", "hook_secret": secret} if secret else {"token": "t"}
    return make_connection(kind, {"scopes": {scope: {"team": "alpha"}}}, secrets, name=kind)


def post(url: str, body: bytes = BODY, **headers: str) -> Any:
    return Client().post(url, data=body, content_type="application/json", headers=headers)


def sig(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_github_signed_call_queues_one_webhook_run(teams: dict[str, Any]) -> None:
    connection = tracker("github", secret="s3cret-hook")
    url = ensure_hook(connection)
    assert url.endswith(f"/hooks/tracker/{connection.config['hook_token']}/")
    assert post(url, **{"X-Hub-Signature-256": "sha256=" + sig("s3cret-hook")}).status_code == 202
    # A second nudge while the first run is queued is absorbed by it.
    again = post(url, **{"X-Hub-Signature-256": "sha256=" + sig("s3cret-hook")})
    assert again.status_code == 202 and again.json()["status"] == "already_syncing"
    assert list(SyncRun.objects.values_list("trigger", flat=True)) == ["webhook"]


def test_bad_or_missing_signature_is_refused(teams: dict[str, Any]) -> None:
    connection = tracker("github", secret="s3cret-hook")
    url = ensure_hook(connection)
    assert post(url, **{"X-Hub-Signature-256": "sha256=" + sig("wrong")}).status_code == 401
    assert post(url).status_code == 401
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        ("gitlab", {"X-Gitlab-Token": "s3cret-hook"}),
        ("linear", {"Linear-Signature": sig("s3cret-hook")}),
        ("jira_cloud", {"X-Hub-Signature": "sha256=" + sig("s3cret-hook")}),
    ],
)
def test_each_tools_signature(teams: dict[str, Any], kind: str, headers: dict[str, str]) -> None:
    connection = tracker(kind, secret="s3cret-hook")
    url = ensure_hook(connection)
    assert post(url, **headers).status_code == 202
    assert post(url, b"tampered", **headers).status_code == 401 or kind == "gitlab"


def test_without_a_secret_the_url_token_alone_nudges(teams: dict[str, Any]) -> None:
    connection = tracker("jira_dc")
    assert post(ensure_hook(connection)).status_code == 202
    assert post("/hooks/tracker/0123456789abcdef0123456789abcdef/").status_code == 404


def test_paused_connection_and_command(teams: dict[str, Any]) -> None:
    connection = tracker("linear")
    out = StringIO()
    call_command("tracker_hook", str(connection.pk), stdout=out)
    connection.refresh_from_db()
    assert connection.config["hook_token"] in out.getvalue()
    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    assert post(out.getvalue().strip()).status_code == 409
