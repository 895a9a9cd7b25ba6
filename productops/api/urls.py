"""/api/v1/: the ninja API's paths, open to anonymous requests at the Django level because the API
authenticates each request itself (a bearer token, auth.py) and answers with problem+json rather than a
redirect to the log-in page. Settings → API tokens lives in this app too."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, re_path

from productops.accounts.roles import pm_required, public

from . import views
from .api import api
from .problems import PROBLEM_CONTENT_TYPE, problem_response

API_VIEW_NAME = "api_v1_endpoint"


def _api_patterns() -> list[URLPattern]:
    patterns, _app, _namespace = api.urls
    out = []
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)
        pattern.callback = _problem_for_405(pattern.callback)
        public(pattern.callback)
        # ninja's views are CSRF-exempt: the API's credential is a bearer token, never a cookie, so a
        # forged cross-site request has nothing to ride on. Named so the CSRF audit lists them by name.
        pattern.callback.__name__ = API_VIEW_NAME
        out.append(pattern)
    return out


def _problem_for_405(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """ninja answers a method a path does not take with Django's bare 405; make it a problem too."""

    @wraps(view)  # keeps csrf_exempt
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and response.get("Content-Type", "") != PROBLEM_CONTENT_TYPE:
            allowed = response.get("Allow", "")
            return problem_response(
                request,
                405,
                f"{request.method} is not allowed here; use {allowed}.",
                headers={"Allow": allowed},
            )
        return response

    return wrapped


@public
def unknown_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    return problem_response(request, 404, "No such endpoint; see /api/v1/docs for the list.")


api_urlpatterns = [
    path("api/v1/", (_api_patterns(), "api", "api")),
    re_path(r"^api/v1/(?P<rest>.*)$", unknown_endpoint),
]

app_name = "api_tokens"
urlpatterns = [
    path("", pm_required(views.tokens_page), name="list"),
    path("<int:token_id>/revoke/", pm_required(views.revoke), name="revoke"),
]
