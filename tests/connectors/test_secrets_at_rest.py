"""Secrets at rest: a Fernet token under the configured keys, and no plaintext in a real pg_dump."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import connection as db

from connectors.models import Connection

CANARY = "canary-at-rest-5d1e8b2c9f7a4e60"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_secrets_are_fernet_tokens_and_a_pg_dump_holds_no_plaintext() -> None:
    assert db.vendor == "postgresql", "this test reads a real pg_dump"
    connection = Connection(name="At rest", kind="zendesk", config={"subdomain": "acme", "email": "o@a.test"})
    connection.set_secrets({"api_token": CANARY})
    connection.save()

    with db.cursor() as cur:
        cur.execute("SELECT secrets_encrypted FROM connectors_connection WHERE id = %s", [connection.pk])
        (raw,) = cur.fetchone()
    assert raw.startswith("gAAAAA"), "not a Fernet token (version byte 0x80)"
    keys = MultiFernet([Fernet(k) for k in settings.FERNET_KEYS])
    assert json.loads(keys.decrypt(raw.encode())) == {"api_token": CANARY}
    assert CANARY not in raw

    params = db.settings_dict
    env = {**os.environ, "PGPASSWORD": params.get("PASSWORD") or ""}
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "-h",
            params.get("HOST") or "127.0.0.1",
            "-p",
            str(params.get("PORT") or 5432),
            "-U",
            params.get("USER") or "postgres",
            params["NAME"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert raw in dump and "At rest" in dump  # the dump has the row...
    assert CANARY not in dump  # ...but never the secret


def test_settings_keys_are_fernet_keys(settings: Any) -> None:
    for key in settings.FERNET_KEYS:
        Fernet(key)  # raises on anything but a 32-byte url-safe base64 key
