"""Saved views: save the page you are on with its filters, list them, open, share, subscribe, delete."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from productops.accounts.roles import pm_required

from .models import SavedView
from .services import ViewError, can_open, save_view, shareable_teams, visible_views


class SaveViewForm(forms.Form):
    name = forms.CharField(max_length=100)
    path = forms.CharField(max_length=200)
    query = forms.CharField(max_length=2000, required=False)
    team = forms.IntegerField(required=False)


@pm_required
def views_list(request: HttpRequest) -> HttpResponse:
    views = list(visible_views(request.user).prefetch_related("subscribers"))
    subscribed = set(cast(Any, request.user).subscribed_views.values_list("pk", flat=True))
    mine = [v for v in views if v.owner_id == request.user.pk]
    shared = [v for v in views if v.owner_id != request.user.pk]
    return render(
        request,
        "savedviews/list.html",
        {"mine": mine, "shared": shared, "subscribed": subscribed, "teams": shareable_teams(request.user)},
    )


@pm_required
@require_POST
def save(request: HttpRequest) -> HttpResponse:
    form = SaveViewForm(request.POST)
    back = request.POST.get("path", "")
    if not form.is_valid():
        messages.error(request, "Give the view a name (up to 100 characters).")
        return _back(back, request.POST.get("query", ""))
    team = None
    if form.cleaned_data["team"]:
        team = shareable_teams(request.user).filter(pk=form.cleaned_data["team"]).first()
        if team is None:
            messages.error(request, "You can share a view only with a team you are on.")
            return _back(back, form.cleaned_data["query"])
    try:
        view = save_view(
            request.user,
            form.cleaned_data["name"],
            form.cleaned_data["path"],
            form.cleaned_data["query"],
            team,
        )
    except ViewError as exc:
        messages.error(request, str(exc))
        return _back(back, form.cleaned_data["query"])
    shared = f", shared with {view.team.name}" if view.team else ""
    messages.success(request, f"Saved the view “{view.name}”{shared}. It is in the Views menu.")
    return HttpResponseRedirect(view.get_absolute_url())


def _back(path: str, query: str) -> HttpResponse:
    # Only back to a path on this site (a relative path that is not protocol-relative).
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return HttpResponseRedirect(f"{path}?{query}" if query else path)
    return redirect("savedviews:list")


@pm_required
def open_view(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk)
    if not can_open(request.user, view):
        raise Http404("No such view.")
    return HttpResponseRedirect(view.target)


@pm_required
@require_POST
def subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk)
    if not can_open(request.user, view):
        raise Http404("No such view.")
    user = cast(Any, request.user)
    if view.subscribers.filter(pk=user.pk).exists():
        view.subscribers.remove(user)
        messages.success(request, f"“{view.name}” is no longer in your weekly digest.")
    else:
        view.subscribers.add(user)
        messages.success(request, f"“{view.name}” will be in your weekly digest with its headline counts.")
    return redirect("savedviews:list")


@pm_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)
    view.delete()
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("savedviews:list")
