"""INTERIM: encrypt a connection's secrets until the framework's secrets module lands (issue 4 core).

Secrets are a JSON object encrypted with MultiFernet over settings.FERNET_KEYS (the first key
encrypts, every key decrypts, so keys rotate) and stored in Connection.secrets_encrypted. The
integrator should point these two functions at the framework's implementation (same storage format
expected: one Fernet token of a JSON object) and delete this module.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _box() -> MultiFernet:
    keys = [k for k in settings.FERNET_KEYS if k]
    if not keys:
        raise RuntimeError("FERNET_KEYS is empty: set it in the environment to store connection secrets.")
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def encrypt_secrets(values: dict[str, str]) -> str:
    return _box().encrypt(json.dumps(values).encode()).decode()


def decrypt_secrets(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        data = json.loads(_box().decrypt(token.encode()))
    except InvalidToken:
        raise RuntimeError(
            "A connection's secrets could not be decrypted with FERNET_KEYS: the key that encrypted them "
            "is missing. Add the old key back to FERNET_KEYS (after the new one)."
        ) from None
    return {str(k): str(v) for k, v in data.items()}
