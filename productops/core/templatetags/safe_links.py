"""`safe_url`: the one filter every link to ingested data goes through (a template builtin).

Trackers, support tools and feeds send URLs we render as links. A `javascript:`, `data:` or `vbscript:`
URL there would run in our origin (or phish) when a PM clicks it, so only http(s), mailto and
relative links survive; anything else becomes "" and templates show the text without a link.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import template

register = template.Library()

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# Browsers ignore ASCII whitespace and control characters in a scheme ("java\tscript:"), so they
# are dropped before the scheme is read.
_IGNORED = re.compile(r"[\x00-\x20\x7f]")


def safe_url(value: object) -> str:
    """`value` if it is an http(s), mailto or relative URL, else ""."""
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    squeezed = _IGNORED.sub("", text)
    try:
        scheme = urlsplit(squeezed).scheme.lower()
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return ""
    if scheme in ALLOWED_SCHEMES:
        return text
    if scheme == "" and ":" not in squeezed.split("/", 1)[0]:
        return text  # relative: a path on our own site
    return ""


register.filter("safe_url", safe_url)
