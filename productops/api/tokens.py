"""Create, check and revoke personal API tokens.

A token is `po_` + 40 random URL-safe characters (about 240 bits), so a plain SHA-256 digest is safe to
store (there is nothing to brute-force, unlike a password) and is looked up by equality in one query.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .models import ApiToken, TokenScope

TOKEN_PREFIX = "po_"  # noqa: S105 (the marker every token starts with, not a secret)
# last_used_at is written at most this often per token: a busy client must not write a row per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(user: Any, name: str, scope: str = TokenScope.READ) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the raw token, which is never stored or shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:100] or "API token",
        prefix=raw[3:11],
        digest=digest_of(raw),
        scope=scope,
    )
    return token, raw


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def find_token(raw: str) -> ApiToken | None:
    """The active token for a raw value, with its user; None for anything unknown, revoked or malformed."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user").filter(digest=digest_of(raw), revoked_at__isnull=True).first()
    )
    if token is None or not token.user.is_active:
        return None
    return token


def touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
