from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet

from .models import Profile
from .roles import LEAD_GROUP, PM_GROUP, Role


def ensure_groups() -> tuple[Group, Group]:
    lead, _ = Group.objects.get_or_create(name=LEAD_GROUP)
    pm, _ = Group.objects.get_or_create(name=PM_GROUP)
    return lead, pm


@transaction.atomic
def set_role(user: Any, role: Role | None) -> None:
    lead, pm = ensure_groups()
    user.groups.remove(lead, pm)
    if role == Role.LEAD:
        user.groups.add(lead)
    elif role == Role.PM:
        user.groups.add(pm)
    user.__dict__.pop("_productops_role", None)


def users_with_role(*roles: Role) -> QuerySet[Any]:
    """Active users holding one of `roles` (group membership only: superuser status is no role)."""
    groups = [LEAD_GROUP if role == Role.LEAD else PM_GROUP for role in roles]
    return get_user_model().objects.filter(is_active=True, groups__name__in=groups).distinct()


@transaction.atomic
def create_user(username: str, email: str, password: str, role: Role, *, timezone: str = "UTC") -> Any:
    """Create or update a user with a role; running it twice changes nothing more.

    A lead is not a superuser: the role lives in one place (the group), so changing it on the users
    page changes everything the user can do. Django's admin needs an explicit `createsuperuser`.
    """
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if created:
        user.set_password(password)
    user.email = email
    user.save()
    set_role(user, role)
    Profile.objects.get_or_create(user=user, defaults={"timezone": timezone})
    return user
