"""Saving, listing and opening views; the digest's headline counts for a subscribed view.

Who sees a view: its owner; if it is shared with a team, every member of that team
(`digests.TeamMembership`) and every product-ops lead. A link to a view (/views/<id>/) opens the page
with the saved filters for them, and is a 404 for anyone else (a private view's name is not disclosed).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import Resolver404, resolve

from productops.accounts.roles import PUBLIC, Role, has_role, required_role, role_of
from productops.portfolio.models import Team
from productops.ui.filters import parse_filters

from .models import SavedView

MAX_VIEWS_PER_USER = 100
NAV_LIMIT = 15
# Pages a view cannot point at: the views themselves, settings, the API, sign-in and inbound hooks.
NOT_SAVEABLE = ("/views/", "/accounts/", "/api/", "/hooks/", "/admin/", "/digests/unsubscribe")


class ViewError(ValueError):
    """Why a view cannot be saved, in words for the page."""


def user_team_ids(user: Any) -> set[int]:
    from productops.digests.models import TeamMembership

    return set(TeamMembership.objects.filter(user=user).values_list("team_id", flat=True))


def visible_views(user: Any) -> QuerySet[SavedView]:
    """The user's own views and the views shared with their teams (a lead: with any team)."""
    if role_of(user) is None:
        return SavedView.objects.none()
    # One query: the team membership is a subquery, not a list fetched first (this runs on every page).
    shared = Q(team__isnull=False) if role_of(user) == Role.LEAD else Q(team__memberships__user=user)
    return SavedView.objects.filter(Q(owner=user) | shared).select_related("team", "owner").distinct()


def shareable_teams(user: Any) -> QuerySet[Team]:
    if role_of(user) == Role.LEAD:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user)


def check_page(user: Any, path: str) -> None:
    """The path is a page this user may open (a page, not an action; not lead-only for a PM)."""
    if not path.startswith("/") or path.startswith("//") or any(path.startswith(p) for p in NOT_SAVEABLE):
        raise ViewError("Only dashboard pages can be saved as views.")
    try:
        match = resolve(path)
    except Resolver404:
        raise ViewError("That page does not exist.") from None
    needed = required_role(match.func)
    if needed is None or needed == PUBLIC or not has_role(user, needed):
        raise ViewError("Only pages you can open can be saved as views.")


def normalise_query(path: str, query: str) -> str:
    """The page's filters as the one parser reads them: product, team, range or from/to, and the page's
    own parameters, kept as given (the page validates them when the view opens); `page` is dropped so a
    view opens at the first page."""
    q = QueryDict(query[:2000])
    filters = parse_filters(q)
    out: dict[str, Any] = filters.params() if (q.get("range") or q.get("from") or q.get("to")) else {}
    out.update({k: v for k, v in filters.params().items() if k in ("product", "team")})
    for key in q:
        if key in ("product", "team", "range", "from", "to", "start", "end", "page", "csrfmiddlewaretoken"):
            continue
        values = [v for v in q.getlist(key) if v and len(v) <= 200 and v.isprintable()]
        if values and len(key) <= 40 and key.isprintable():
            out[key] = values if len(values) > 1 else values[0]
    return urlencode(out, doseq=True)


def save_view(user: Any, name: str, path: str, query: str, team: Team | None) -> SavedView:
    name = " ".join(name.split())[:100]
    if not name:
        raise ViewError("Give the view a name.")
    check_page(user, path)
    if team is not None and team.pk not in set(shareable_teams(user).values_list("pk", flat=True)):
        raise ViewError(f"You can share only with your own teams; you are not on {team.name}.")
    if SavedView.objects.filter(owner=user).count() >= MAX_VIEWS_PER_USER:
        raise ViewError(f"You have {MAX_VIEWS_PER_USER} views; delete one first.")
    view, _ = SavedView.objects.update_or_create(
        owner=user, name=name, defaults={"path": path, "query": normalise_query(path, query), "team": team}
    )
    return view


def can_open(user: Any, view: SavedView) -> bool:
    return visible_views(user).filter(pk=view.pk).exists()


# --- The digest section and the alert hook -----------------------------------------------------------


def headline_counts(view: SavedView, start: Any, end: Any) -> list[dict[str, Any]]:
    """The view's headline counts for a period (its product and team; the period replaces its range):
    open incidents and anomalies (as the inbox lists them), new support tickets, NPS responses, mentions. Each links to the page
    that lists exactly those rows."""
    from django.urls import reverse

    from insights.anomalies.views import _inbox_queryset
    from productops.signals.models import Mention, NpsResponse, SupportTicket
    from productops.ui.drill import rows_url

    filters = parse_filters(QueryDict(view.query))
    scope: dict[str, str] = {}
    if filters.product:
        scope["product"] = filters.product.slug
    if filters.team:
        scope["team"] = filters.team.slug

    def products(qs: Any, field: str = "product") -> Any:
        if filters.product:
            qs = qs.filter(**{field: filters.product})
        if filters.team:
            qs = qs.filter(**{f"{field}__teams": filters.team})
        return qs

    window = {"from": start.isoformat(), "to": end.isoformat()}
    # Counted exactly as the inbox lists them (its own queryset and range rule), so the count is the
    # number of rows the link opens.
    inbox = _inbox_queryset({**scope, "status": "open"})
    inbox = inbox.filter(Q(ends_at__date__gte=start) | Q(ends_at__isnull=True)).filter(
        Q(starts_at__isnull=True) | Q(starts_at__date__lte=end)
    )
    out = [
        {
            "label": "Open incidents and anomalies",
            "count": inbox.count(),
            "url": reverse("insights:inbox") + "?" + urlencode({**scope, **window, "status": "open"}),
        }
    ]
    for label, model, column, table in (
        ("Support tickets opened", SupportTicket, "opened_at", "tickets"),
        ("NPS responses", NpsResponse, "submitted_at", "nps"),
        ("Mentions", Mention, "posted_at", "mentions"),
    ):
        qs = products(model.objects.all()).filter(
            **{f"{column}__date__gte": start, f"{column}__date__lte": end}
        )
        out.append({"label": label, "count": qs.count(), "url": rows_url(table, {**scope, **window})})
    return out


def insight_in_view(insight: Any, view: SavedView) -> bool:
    """Does an insight fall within a view's product and team? The hook an alert rule uses to reference a
    saved view ("alert me on what this view shows"): a rule stores the view's id and asks this for each
    new insight. The range is left out on purpose: an alert is about what is new now."""
    filters = parse_filters(QueryDict(view.query))
    if filters.product and not insight.products.filter(pk=filters.product.pk).exists():
        return False
    return not (filters.team and not insight.teams.filter(pk=filters.team.pk).exists())


NAV_CACHE_VERSION_KEY = "savedviews:nav-version"
NAV_CACHE_SECONDS = 3600


def nav_entries(user: Any) -> list[dict[str, Any]]:
    """The nav's Views menu for this user (see `_nav_record`)."""
    return list(_nav_record(user)["views"])


def save_teams(user: Any) -> list[dict[str, Any]]:
    """The teams the "Save this view" form offers this user ({"pk", "name"}), from the same cache entry."""
    return list(_nav_record(user)["teams"])


def _nav_record(user: Any) -> dict[str, list[dict[str, Any]]]:
    """What every page's shell needs from saved views, from the cache.

    One cache round trip on a hit: the entry is stored with the version it was built at, and any saved
    view, team or membership change bumps the version (`bump_nav_version`, wired in apps.py), so a stale
    menu is never served. The role is in the key, so a role change is seen at once too.
    """
    role = role_of(user)
    if role is None:
        return {"views": [], "teams": []}
    key = f"savedviews:shell:{user.pk}:{role}"
    found = cache.get_many([key, NAV_CACHE_VERSION_KEY])
    version = found.get(NAV_CACHE_VERSION_KEY, 0)
    cached = found.get(key)
    if (
        isinstance(cached, tuple)
        and len(cached) == 2
        and cached[0] == version
        and isinstance(cached[1], dict)
    ):
        record: dict[str, list[dict[str, Any]]] = cached[1]
        return record
    record = {
        "views": [
            {"name": v.name, "url": v.get_absolute_url(), "team": v.team.name if v.team_id and v.team else ""}
            for v in visible_views(user).order_by("name", "pk")[:NAV_LIMIT]
        ],
        "teams": [{"pk": t.pk, "name": t.name} for t in shareable_teams(user).order_by("name")],
    }
    cache.set(key, (version, record), NAV_CACHE_SECONDS)
    return record


def bump_nav_version(**_: Any) -> None:
    cache.set(NAV_CACHE_VERSION_KEY, time.time_ns(), None)
