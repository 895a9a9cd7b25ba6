"""RFC 9457 problem details: the one error body of the API, for every status it returns.

    {"type": "https://productops.dev/problems/not-found", "title": "Not found", "status": 404,
     "detail": "No insight 12.", "instance": "/api/v1/insights/12"}

`type` names the kind of problem (a stable URI; it is an identifier, not a page that must resolve);
422s add `errors`, a list of {"loc", "msg"} naming each bad field.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://productops.dev/problems/"

TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    422: ("invalid-request", "Invalid request"),
    429: ("rate-limited", "Too many requests"),
    500: ("server-error", "Server error"),
}


class ApiProblem(Exception):
    """Raise anywhere in an endpoint to answer with a problem body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    request: HttpRequest | None,
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    slug, title = TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.path
    if errors is not None:
        body["errors"] = errors
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
