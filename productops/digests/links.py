"""Absolute links from a digest into the dashboard, with the item's filters in the query string.

Each kind lists the pages it would rather link to, best first. Pages are built by several apps and a
name that does not resolve (not built yet, or different arguments) falls through to the next; the
overview always resolves. A producer that knows its exact page can put a site path in
`payload["path"]`; it is used when it resolves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

Candidate = tuple[str, Sequence[Any]]

FALLBACK = "dashboards:overview"


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _query(filters: dict[str, Any]) -> str:
    clean = {k: v for k, v in filters.items() if v not in (None, "")}
    return f"?{urlencode(clean)}" if clean else ""


def site_link(candidates: Sequence[Candidate], filters: dict[str, Any], payload_path: Any = None) -> str:
    """The first candidate page that resolves, as an absolute URL with `filters` as its query string."""
    if isinstance(payload_path, str) and payload_path.startswith("/") and not payload_path.startswith("//"):
        try:
            resolve(payload_path.split("?", 1)[0])
            return absolute(payload_path)
        except Resolver404:
            pass
    for name, args in [*candidates, (FALLBACK, ())]:
        try:
            path = reverse(name, args=list(args))
        except NoReverseMatch:
            continue
        return absolute(path + _query(filters))
    raise NoReverseMatch(f"none of the digest's link targets resolve, not even {FALLBACK}")


def insight_candidates(kind: str, insight: Any) -> list[Candidate]:
    pk = [insight.pk]
    payload = insight.payload if isinstance(insight.payload, dict) else {}
    by_kind: dict[str, list[Candidate]] = {
        "incident": [("insights:incident", pk), ("insights:detail", pk), ("insights:inbox", ())],
        "anomaly": [("insights:anomaly", pk), ("insights:detail", pk), ("insights:inbox", ())],
        "overlap": [("overlaps:overlap", pk), ("overlaps:portfolio", ())],
        "theme": [("feedback:themes", ())],
        "nps_shift": [("feedback:nps", ()), ("feedback:themes", ())],
        "experiment_verdict": [
            ("feedback:experiment", [payload.get("experiment", "")]),
            ("feedback:experiments", ()),
        ],
        "stale_connector": [
            ("connectors:detail", [payload.get("connection_id", "")]),
            ("connectors:list", ()),
        ],
        "connector_attention": [
            ("connectors:detail", [payload.get("connection_id", "")]),
            ("connectors:list", ()),
        ],
    }
    return [(name, args) for name, args in by_kind.get(kind, []) if all(a not in ("", None) for a in args)]
