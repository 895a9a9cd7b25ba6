"""The two roles, and the decorators that every view must carry.

Every view declares who may see it: `@public`, `@pm_required` (any role: PMs and leads read) or
`@lead_required` (configuration). RoleRequiredMiddleware refuses a view that declares nothing, so a
new view fails closed until its author decides.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator

LEAD_GROUP = "Product ops lead"
PM_GROUP = "PM"

F = TypeVar("F", bound=Callable[..., Any])


class Role(StrEnum):
    PM = "pm"
    LEAD = "lead"

    @property
    def label(self) -> str:
        return {"pm": "PM", "lead": "Product ops lead"}[self.value]


ROLE_ATTR = "productops_role"
PUBLIC = "public"


def role_of(user: Any) -> Role | None:
    """The user's role: membership of the lead or PM group, and nothing else.

    Django's `is_superuser` and `is_staff` are a separate fact (who may use /admin, granted only by
    `manage.py createsuperuser`); they never give a role, so demoting a lead takes effect on the very
    next request. The answer is memoised on the user object, which Django loads afresh per request.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if hasattr(user, "_productops_role"):
        cached: Role | None = user._productops_role
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = Role.LEAD if LEAD_GROUP in names else Role.PM if PM_GROUP in names else None
    user._productops_role = role
    return role


def has_role(user: Any, needed: str) -> bool:
    if needed == PUBLIC:
        return True
    role = role_of(user)
    if role is None:
        return False
    return needed == Role.PM or role == Role.LEAD


def _mark(needed: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        setattr(view, ROLE_ATTR, needed)
        if needed != PUBLIC:
            return view
        if isinstance(view, type):  # a class-based view: as_view() copies dispatch's attributes
            return method_decorator(login_not_required, name="dispatch")(view)
        return login_not_required(view)

    return decorate


public = _mark(PUBLIC)
pm_required = _mark(Role.PM)
lead_required = _mark(Role.LEAD)


def required_role(view: Any) -> str | None:
    """The role a resolved view declared, looking through class-based views."""
    needed = getattr(view, ROLE_ATTR, None)
    if needed is None and hasattr(view, "view_class"):
        needed = getattr(view.view_class, ROLE_ATTR, None)
    return needed
