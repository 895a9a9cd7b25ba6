"""Settings → API tokens: create (the token is shown once, on the page that answers the form), list
with last-used times, revoke. Each user manages only their own tokens."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from .models import ApiToken, TokenScope
from .tokens import create_token, revoke_token

MAX_ACTIVE_TOKENS = 20


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “Looker sync”.")
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        help_text="Read-write tokens can triage insights; a lead's can also push metric points and feedback.",
    )


def settings_section(request: HttpRequest) -> dict[str, Any]:
    """The API-token block of the accounts Settings page."""
    return {
        "template": "api/_settings_section.html",
        "token_form": TokenForm(),
        "tokens": ApiToken.objects.filter(user=cast(Any, request.user), revoked_at__isnull=True),
    }


@never_cache
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("accounts:settings")
    form = TokenForm(request.POST)
    active = ApiToken.objects.filter(user=cast(Any, request.user), revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE_TOKENS:
        messages.error(request, f"You have {active} active tokens; revoke one you no longer use first.")
        return redirect("accounts:settings")
    if not form.is_valid():
        messages.error(request, "Give the token a name (up to 100 characters) and a scope.")
        return redirect("accounts:settings")
    token, raw = create_token(request.user, form.cleaned_data["name"], form.cleaned_data["scope"])
    # Rendered, not redirected: the raw token exists only in this response and is never stored.
    return render(request, "api/token_created.html", {"token": token, "raw": raw})


@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    revoke_token(token)
    messages.success(request, f"Token “{token.name}” is revoked; requests with it are refused from now on.")
    return redirect("accounts:settings")
