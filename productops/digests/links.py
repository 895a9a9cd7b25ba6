"""Absolute links from a digest into the site. Insights link to their target through the insight-kind
registry (`insights.kinds.target_url`); list pages get the digest's scope in the shared filter names
(product and team slugs, `from`/`to`), which every page parses with the one `Filters` parser."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def page_link(name: str, args: Sequence[Any] = (), filters: dict[str, Any] | None = None) -> str:
    """The page `name` as an absolute URL, with `filters` (empty values dropped) as its query string."""
    clean = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    return absolute(reverse(name, args=list(args)) + (f"?{urlencode(clean)}" if clean else ""))
