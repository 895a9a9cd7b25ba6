from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

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


@transaction.atomic
def create_user(username: str, email: str, password: str, role: Role, *, timezone: str = "UTC") -> Any:
    """Create or update a user with a role; running it twice changes nothing more."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if created:
        user.set_password(password)
    user.email = email
    user.is_staff = role == Role.LEAD
    user.save()
    if role == Role.LEAD and not user.is_superuser:
        # The lead manages connectors, users and digest defaults, including through the admin.
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    set_role(user, role)
    Profile.objects.get_or_create(user=user, defaults={"timezone": timezone})
    return user
