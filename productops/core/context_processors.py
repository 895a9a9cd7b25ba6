from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from productops.accounts.roles import Role, role_of

# (label, url name, lead only). A page that is not installed yet is left out of the nav.
NAV = [
    ("Overview", "dashboards:overview", False),
    ("Metrics", "dashboards:explorer", False),
    ("Feedback", "feedback:themes", False),
    ("Experiments", "feedback:experiments", False),
    ("Portfolio", "overlaps:portfolio", False),
    ("Goals", "goals:index", False),
    ("Research", "research:index", False),
    ("Competitors", "competitors:index", False),
    ("Opportunities", "delivery:opportunities", False),
    ("Delivery", "delivery:health", False),
    ("Insights", "insights:inbox", False),
    ("Alerts", "alerts:list", False),
    ("Connectors", "connectors:list", False),  # PMs see health read-only; leads configure
    ("Import", "signals:import", True),
]
# Settings is the user's own page: it sits with their name and "Log out", which keeps the nav on one line
# at 1440 px (tests/browser/test_research_competitors.py measures it).


def _nav(request: HttpRequest, is_lead: bool) -> list[dict[str, Any]]:
    items = []
    for label, name, lead_only in NAV:
        if lead_only and not is_lead:
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
    return {"role": role, "is_lead": is_lead, "nav": _nav(request, is_lead), "freshness": freshness}
