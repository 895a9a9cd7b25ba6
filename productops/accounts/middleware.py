from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.template.loader import render_to_string

from .roles import PUBLIC, has_role, required_role

log = logging.getLogger(__name__)


class RoleRequiredMiddleware:
    """Enforces the role each view declares; a view that declares none is refused (fail closed).

    Django's admin keeps its own staff and permission checks.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is not None and match.app_name == "admin":
            return None
        needed = required_role(view_func)
        if needed is None:
            log.error("view %s declares no role; refusing", getattr(view_func, "__name__", view_func))
            return HttpResponseForbidden("This page declares no role, so it is closed.")
        if needed == PUBLIC or not request.user.is_authenticated:
            return None  # LoginRequiredMiddleware already sent anonymous users to the login page
        if has_role(request.user, needed):
            return None
        html = render_to_string("403.html", {"needed": needed}, request=request)
        return HttpResponseForbidden(html)
