from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import invitations, sso, twofactor
from .forms import AcceptInvitationForm, InviteForm, ProfileForm, RoleForm, TotpCodeForm
from .models import Invitation, Profile
from .roles import Role, lead_required, pm_required, public, role_of
from .services import set_role

PENDING_2FA = "productops_pending_2fa"
PENDING_2FA_MAX_AGE = 300  # seconds between the password step and the code step
PENDING_2FA_MAX_TRIES = 5
SETUP_2FA = "productops_setup_2fa"


def _login_context() -> dict[str, Any]:
    return {
        "sso_enabled": sso.enabled(),
        "sso_name": settings.OIDC_PROVIDER_NAME,
        "local_login": settings.LOCAL_LOGIN_ENABLED,
    }


@public
class LoginView(auth_views.LoginView):
    """Password login (unless disabled), the SSO button, and the TOTP step for accounts that use it."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **_login_context()}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.LOCAL_LOGIN_ENABLED:
            return HttpResponseForbidden(
                render(request, "accounts/login.html", {**_login_context(), "form": None}).content
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not twofactor.enabled(user):
            return super().form_valid(form)
        # Password checked; the session is made only after the code step.
        self.request.session[PENDING_2FA] = {
            "user": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "tries": 0,
            "next": self.get_success_url(),
        }
        return redirect("accounts:login_code")


@public
def login_code(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_2FA)
    if not pending or time.time() - pending["at"] > PENDING_2FA_MAX_AGE:
        request.session.pop(PENDING_2FA, None)
        messages.error(request, "Please log in again: the sign-in step timed out.")
        return redirect("accounts:login")
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
        if user is not None and twofactor.verify(user, form.cleaned_data["code"]):
            request.session.pop(PENDING_2FA, None)
            auth_login(request, user, backend=pending["backend"])
            target = pending.get("next") or settings.LOGIN_REDIRECT_URL
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = settings.LOGIN_REDIRECT_URL
            return redirect(target)
        pending["tries"] += 1
        if pending["tries"] >= PENDING_2FA_MAX_TRIES:
            request.session.pop(PENDING_2FA, None)
            messages.error(request, "Too many wrong codes. Log in again.")
            return redirect("accounts:login")
        request.session[PENDING_2FA] = pending
        form.add_error("code", "That code is not right (or was already used). Try the next one.")
    return render(request, "accounts/login_code.html", {"form": form})


@pm_required
class LogoutView(auth_views.LogoutView):
    pass


@pm_required
def settings_page(request: HttpRequest) -> HttpResponse:
    profile, _ = Profile.objects.get_or_create(user=request.user)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("accounts:settings")
    from productops.api.views import settings_section as api_tokens  # owned by the api app
    from productops.digests.views import settings_section  # the digest block, owned by the digests app

    return render(
        request,
        "accounts/settings.html",
        {
            "form": form,
            "sections": [settings_section(request), api_tokens(request)],
            "two_factor": twofactor.enabled(request.user),
            "local_account": getattr(request.user, "has_usable_password", lambda: False)(),
        },
    )


@pm_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Turn TOTP on: show a QR code for a fresh secret, and enable it once a code from the app checks out."""
    if not getattr(request.user, "has_usable_password", lambda: False)():
        messages.error(
            request,
            "Your account signs in through single sign-on; your identity provider's two-factor applies.",
        )
        return redirect("accounts:settings")
    secret = request.session.get(SETUP_2FA) or twofactor.new_secret()
    request.session[SETUP_2FA] = secret
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if twofactor.enable(request.user, secret, form.cleaned_data["code"]):
            request.session.pop(SETUP_2FA, None)
            messages.success(
                request, "Two-factor authentication is on. You'll be asked for a code at each login."
            )
            return redirect("accounts:settings")
        form.add_error(
            "code", "That code doesn't match. Check the time on your phone and try the current code."
        )
    uri = twofactor.provisioning_uri(secret, request.user.get_username())
    return render(
        request,
        "accounts/two_factor_setup.html",
        {"form": form, "qr": twofactor.qr_svg(uri), "secret": secret},
    )


@pm_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    form = TotpCodeForm(request.POST)
    if form.is_valid() and twofactor.verify(request.user, form.cleaned_data["code"]):
        twofactor.disable(request.user)
        messages.success(request, "Two-factor authentication is off.")
    else:
        messages.error(request, "Enter a current code from your authenticator app to turn two-factor off.")
    return redirect("accounts:settings")


@lead_required
def users_page(request: HttpRequest) -> HttpResponse:
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = [{"user": u, "role": role_of(u) if u.is_active else None} for u in users]
    now = timezone.now()
    pending = [
        {"invitation": inv, "state": inv.state(now)}
        for inv in Invitation.objects.select_related("invited_by").filter(accepted_at=None)[:200]
    ]
    return render(
        request,
        "accounts/users.html",
        {"rows": rows, "roles": list(Role), "invite_form": InviteForm(), "invitations": pending},
    )


@lead_required
@require_POST
def set_user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a role from the list.")
        return redirect("accounts:users")
    if user == request.user and form.cleaned_data["role"] != Role.LEAD:
        messages.error(request, "You can't remove your own lead role; ask another lead.")
        return redirect("accounts:users")
    set_role(user, Role(form.cleaned_data["role"]) if form.cleaned_data["role"] else None)
    messages.success(request, f"{user.username}'s role is updated.")
    return redirect("accounts:users")


@lead_required
@require_POST
def set_user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    """Deactivate (or reactivate) an account: it is logged out on its next request and can't sign in."""
    user = get_object_or_404(get_user_model(), pk=user_id)
    active = request.POST.get("active") == "1"
    if user == request.user and not active:
        messages.error(request, "You can't deactivate your own account; ask another lead.")
        return redirect("accounts:users")
    user.is_active = active
    user.save(update_fields=["is_active"])
    messages.success(request, f"{user.username} is {'reactivated' if active else 'deactivated'}.")
    return redirect("accounts:users")


@lead_required
@require_POST
def invite_user(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("accounts:users")
    try:
        invitation = invitations.invite(
            form.cleaned_data["email"], Role(form.cleaned_data["role"]), request.user
        )
    except invitations.InvitationError as exc:
        messages.error(request, str(exc))
    else:
        days = settings.INVITATION_MAX_AGE // 86400
        messages.success(
            request, f"Invitation sent to {invitation.email}; the link works once, for {days} days."
        )
    return redirect("accounts:users")


@lead_required
@require_POST
def revoke_invitation(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, accepted_at=None)
    invitation.revoked_at = invitation.revoked_at or timezone.now()
    invitation.save(update_fields=["revoked_at"])
    messages.success(request, f"The invitation for {invitation.email} is withdrawn.")
    return redirect("accounts:users")


@public
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitations.resolve(token)
    except invitations.InvitationError as exc:
        return render(request, "accounts/invitation_invalid.html", {"reason": str(exc)}, status=410)
    if request.user.is_authenticated:
        messages.error(request, "Log out first to accept an invitation for another account.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = AcceptInvitationForm(
        request.POST or None, initial={"username": invitations.free_username(invitation.email)}
    )
    if request.method == "POST" and settings.LOCAL_LOGIN_ENABLED and form.is_valid():
        try:
            user = invitations.accept(
                invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                timezone_name=form.cleaned_data["timezone"],
            )
        except invitations.InvitationError as exc:
            form.add_error(None, str(exc))
        else:
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to productops, {user.username}.")
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(
        request,
        "accounts/accept_invitation.html",
        {
            "invitation": invitation,
            "role_label": Role(invitation.role).label,
            "form": form,
            **_login_context(),
        },
    )
