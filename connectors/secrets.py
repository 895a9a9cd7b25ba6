"""Connection secrets, encrypted at rest with MultiFernet keys from FERNET_KEYS (not SECRET_KEY).

The first key encrypts; every key decrypts, so a new key goes first and the old one stays listed until
`manage.py rotate_keys` has re-encrypted every row. Secrets are write-only: forms show a hint ("set,
ends in …abcd"), never the value, and `redact` scrubs them from error messages and tracebacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

REDACTED = "[redacted]"


def _fernet() -> MultiFernet:
    keys = list(settings.FERNET_KEYS)
    if not keys:
        raise ImproperlyConfigured("FERNET_KEYS is empty: set it to one or more Fernet keys, newest first.")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "A FERNET_KEYS entry is not a valid Fernet key (32 url-safe base64 bytes); generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
        ) from None


def encrypt(values: dict[str, str]) -> str:
    """Encrypt a dict of secret values; an empty dict is stored as the empty string."""
    clean = {k: v for k, v in values.items() if v}
    if not clean:
        return ""
    return _fernet().encrypt(json.dumps(clean, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        data = _fernet().decrypt(token.encode())
    except InvalidToken:
        raise ImproperlyConfigured(
            "A connection's secrets can't be decrypted with any key in FERNET_KEYS. Put back the key they "
            "were written with (keep it after the new one), or re-enter the secrets."
        ) from None
    value = json.loads(data)
    return {str(k): str(v) for k, v in value.items()}


def rotate(token: str) -> str:
    """Re-encrypt with the first key (MultiFernet.rotate keeps the original timestamp)."""
    if not token:
        return ""
    return _fernet().rotate(token.encode()).decode()


def hint(value: str) -> str:
    """What a form may show about a stored secret."""
    if not value:
        return "not set"
    if len(value) < 12:
        return "set"
    return f"set, ends in …{value[-4:]}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret value, in any form (see connectors.redaction), from text bound for an error
    message, a log line or a traceback."""
    from .redaction import redact as _redact

    return _redact(text, secrets)
