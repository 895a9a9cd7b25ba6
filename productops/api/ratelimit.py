"""Requests per token per minute (API_RATE_LIMIT), counted in the cache: Redis in production, so every
gunicorn process shares one count. A fixed one-minute window: simple, and at worst lets a client send
twice the limit across a window's edge, which is fine for protecting the database from a runaway script."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets


def take(token_id: int, *, now: float | None = None) -> Allowance:
    """Count one request for the token; `allowed` is False once the minute's budget is spent."""
    limit = int(getattr(settings, "API_RATE_LIMIT", 120))
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
    if limit <= 0:  # 0 turns the limit off
        return Allowance(True, 0, 0, retry_after)
    key = f"api-rate:{token_id}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        used = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        used = 1
    return Allowance(used <= limit, limit, max(0, limit - used), retry_after)
