from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from productops.accounts.roles import lead_required, pm_required, public

from . import selectors, services, tasks
from .build import build_digest, user_timezone
from .emails import render_parts
from .forms import DefaultsForm, MemberForm, SubscriptionForm, TeamForm
from .models import DigestDefaults
from .schedule import parse_week
from .tokens import read_unsubscribe_token


def _subscription_form(request: HttpRequest, data: Any = None) -> SubscriptionForm:
    sub = services.ensure_subscription(request.user)
    return SubscriptionForm(data, instance=sub, timezone=user_timezone(request.user))


def settings_section(request: HttpRequest) -> dict[str, Any]:
    """The digest block of the accounts Settings page (included there as a section)."""
    return {"template": "digests/_settings_section.html", "form": _subscription_form(request)}


@pm_required
def subscription_settings(request: HttpRequest) -> HttpResponse:
    form = _subscription_form(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            services.set_timezone(request.user, form.cleaned_data["timezone"])
        messages.success(request, "Digest settings saved.")
        return redirect("accounts:settings")
    return render(request, "digests/settings.html", {"section": {"form": form}})


@pm_required
def preview(request: HttpRequest) -> HttpResponse:
    week = request.GET.get("week") or None
    if week:
        try:
            parse_week(week)
        except ValueError as exc:
            messages.error(request, str(exc))
            week = None
    digest = build_digest(request.user, week)
    parts = render_parts(digest, request.user, inline=False)
    return render(
        request,
        "digests/preview.html",
        {"digest": digest, "subject": parts["subject"], "inline": False, "unsubscribe_url": "#"},
    )


@pm_required
@require_POST
def send_test(request: HttpRequest) -> HttpResponse:
    address = getattr(request.user, "email", "")
    if not address:
        messages.error(request, "Your account has no e-mail address; ask your product-ops lead to add one.")
        return redirect("accounts:settings")
    user_id = request.user.pk
    transaction.on_commit(lambda: tasks.send_test_digest.delay(user_id))
    messages.success(request, f"A test digest is on its way to {address}.")
    return redirect("accounts:settings")


@public
@csrf_exempt  # RFC 8058: mail providers POST with no cookie or CSRF token; the signed token is the credential
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user_id = read_unsubscribe_token(token)
    except signing.SignatureExpired:
        return render(request, "digests/unsubscribe.html", {"state": "expired"}, status=400)
    except signing.BadSignature:
        return render(request, "digests/unsubscribe.html", {"state": "invalid"}, status=400)
    if request.method == "GET":
        # Link scanners prefetch GETs, so a GET only asks; the button POSTs.
        return render(request, "digests/unsubscribe.html", {"state": "confirm", "token": token})
    if not services.unsubscribe(user_id):
        return render(request, "digests/unsubscribe.html", {"state": "invalid"}, status=400)
    return render(request, "digests/unsubscribe.html", {"state": "done"})


@lead_required
def delivery_log(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "digests/log.html",
        {
            "page_obj": Paginator(selectors.delivery_log(), 50).get_page(request.GET.get("page")),
            "stuck": list(selectors.stuck_deliveries(now)),
            "failed": list(selectors.failed_deliveries()),
            "timeout_minutes": int(selectors.claim_timeout().total_seconds() // 60),
        },
    )


@lead_required
def lead_settings(request: HttpRequest) -> HttpResponse:
    defaults = DigestDefaults.load()
    action = request.POST.get("action") if request.method == "POST" else None
    defaults_form = DefaultsForm(request.POST if action == "defaults" else None, instance=defaults)
    team_form = TeamForm(request.POST if action == "subscribe_team" else None)
    member_form = MemberForm(request.POST if action == "add_member" else None)
    if action == "defaults" and defaults_form.is_valid():
        defaults_form.save()
        messages.success(request, "Digest defaults saved; they apply to users who have no subscription yet.")
        return redirect("digests:lead")
    if action == "subscribe_team" and team_form.is_valid():
        team = team_form.cleaned_data["team"]
        count = services.subscribe_team(team)
        if count:
            messages.success(
                request, f"Subscribed {count} member(s) of {team} to the digest, following {team}."
            )
        else:
            messages.warning(request, f"{team} has no members yet; add them below first.")
        return redirect("digests:lead")
    if action == "add_member" and member_form.is_valid():
        user = get_user_model().objects.filter(username=member_form.cleaned_data["username"]).first()
        if user is None:
            member_form.add_error("username", "No user has this username; check the Users page.")
        else:
            services.add_team_member(user, member_form.cleaned_data["team"])
            messages.success(request, f"{user.get_username()} is now in {member_form.cleaned_data['team']}.")
            return redirect("digests:lead")
    from .models import TeamMembership

    memberships = TeamMembership.objects.select_related("user", "team").order_by(
        "team__name", "user__username"
    )
    return render(
        request,
        "digests/lead.html",
        {
            "defaults_form": defaults_form,
            "team_form": team_form,
            "member_form": member_form,
            "memberships": memberships,
        },
    )
