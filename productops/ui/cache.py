"""Cache page pieces keyed on the filters and the data version, so a page is never stale.

Every sync and recompute bumps the version (productops.core.versions.bump); a cached piece from an
older version is simply never read again and expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

from productops.core.versions import current

T = TypeVar("T")
TTL_SECONDS = 3600


def cached(name: str, parts: tuple[Any, ...], build: Callable[[], T], version: str | None = None) -> T:
    version = current() if version is None else version
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    key = f"po:{name}:v{version}:{digest}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = build()
    cache.set(key, value, TTL_SECONDS)
    return value
