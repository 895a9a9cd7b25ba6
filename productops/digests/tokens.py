"""Signed, expiring unsubscribe tokens: the link in the e-mail is the only credential a POST needs."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "productops.digests.unsubscribe"


def max_age() -> int:
    return int(getattr(settings, "DIGEST_UNSUBSCRIBE_MAX_AGE", 60 * 60 * 24 * 90))


def make_unsubscribe_token(user_id: int) -> str:
    return signing.dumps({"u": user_id}, salt=SALT, compress=False)


def read_unsubscribe_token(token: str) -> int:
    """The user id in a valid token. Raises signing.BadSignature (SignatureExpired is a subclass)."""
    data = signing.loads(token, salt=SALT, max_age=max_age())
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise signing.BadSignature("token payload is not an unsubscribe token")
    return int(data["u"])
