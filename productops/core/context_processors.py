from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from productops.accounts.roles import Role, role_of

# (label, url name, lead only), or (label, [such entries], lead only) for a menu. A page that is not
# installed yet is left out of the nav.
NAV: list[tuple[str, Any, bool]] = [
    ("Overview", "dashboards:overview", False),
    ("Metrics", "dashboards:explorer", False),
    ("Feedback", "feedback:themes", False),
    ("Experiments", "feedback:experiments", False),
    ("Portfolio", "overlaps:portfolio", False),
    (
        "Strategy",  # a menu: what the team aims at and why, beside what happened
        [
            ("Goals", "goals:index", False),
            ("Opportunities", "delivery:opportunities", False),
            ("Delivery", "delivery:health", False),
            ("Research", "research:index", False),
            ("Competitors", "competitors:index", False),
        ],
        False,
    ),
    ("Insights", "insights:inbox", False),
    ("Alerts", "alerts:list", False),
    ("Connectors", "connectors:list", False),  # PMs see health read-only; leads configure
    ("Import", "signals:import", True),
]
# Settings is the user's own page: it sits with their name and "Log out", which keeps the nav on one line
# at 1440 px (tests/browser/test_research_competitors.py measures it).


def _nav(
    request: HttpRequest, is_lead: bool, entries: list[tuple[str, Any, bool]] | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for label, name, lead_only in NAV if entries is None else entries:
        if lead_only and not is_lead:
            continue
        if isinstance(name, list):
            children = _nav(request, is_lead, name)
            if children:
                items.append(
                    {"label": label, "children": children, "active": any(c["active"] for c in children)}
                )
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return items


def shell(request: HttpRequest) -> dict[str, Any]:
    """What base.html needs on every page: the user's role and the data-freshness footer."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"role": None}
    from productops.ui.stamp import page_stamp

    role = role_of(user)
    is_lead = role == Role.LEAD
    stamp = page_stamp(request)  # the same one query the page's cache key used
    freshness = {"last_success_at": stamp.last_success_at, "failing": stamp.failing}
    return {
        "role": role,
        "is_lead": is_lead,
        "nav": _nav(request, is_lead),
        "freshness": freshness,
        # Evaluated only when a template reads them: the nav's Views menu and the "Save this view" form.
        "nav_views": lambda: _nav_views(user),
        "save_view_teams": lambda: _shareable_teams(user),
        "can_save_view": _can_save_view(request),
    }


def _can_save_view(request: HttpRequest) -> bool:
    """Show "Save this view" on the pages a view can point at (any dashboard page, read with GET)."""
    from productops.accounts.roles import PUBLIC, required_role
    from productops.savedviews.services import NOT_SAVEABLE

    match = getattr(request, "resolver_match", None)
    if request.method != "GET" or match is None or request.path.startswith(NOT_SAVEABLE):
        return False
    return required_role(match.func) not in (None, PUBLIC)


def _nav_views(user: Any) -> list[Any]:
    from productops.savedviews.services import nav_entries

    return nav_entries(user)


def _shareable_teams(user: Any) -> list[Any]:
    from productops.savedviews.services import save_teams

    return save_teams(user)
