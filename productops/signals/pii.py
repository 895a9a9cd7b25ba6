"""Personal data we keep only in a form that can't be read back."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def respondent_hash(email: str) -> str:
    """Keyed hash of an e-mail address (HMAC-SHA256 with PII_HASH_KEY): joinable, never reversible."""
    key = str(settings.PII_HASH_KEY).encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()
