from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .forms import ProfileForm, RoleForm
from .models import Profile
from .roles import Role, lead_required, pm_required, public, role_of
from .services import set_role


@public
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


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

    sections = [settings_section(request), api_tokens(request)]
    return render(request, "accounts/settings.html", {"form": form, "sections": sections})


@lead_required
def users_page(request: HttpRequest) -> HttpResponse:
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = [{"user": u, "role": role_of(u)} for u in users]
    return render(request, "accounts/users.html", {"rows": rows, "roles": list(Role)})


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
