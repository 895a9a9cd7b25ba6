"""Who may edit goals: the product-ops lead, and the PMs of the product.

A PM is "of a product" when they belong to a team that works on it (`digests.TeamMembership`, which the
lead manages on the Users page, and `Team.products`), or to the objective's own team. Company-level
objectives, which belong to no product, are the lead's. Everyone with a role may read.
"""

from __future__ import annotations

from typing import Any

from productops.accounts.roles import Role, role_of
from productops.portfolio.models import Product

from .models import Objective


def editable_product_ids(user: Any) -> set[int] | None:
    """The products whose goals the user may edit; None means every one (the lead)."""
    role = role_of(user)
    if role == Role.LEAD:
        return None
    if role != Role.PM:
        return set()
    return set(Product.objects.filter(teams__memberships__user=user).values_list("pk", flat=True).distinct())


def user_team_ids(user: Any) -> set[int]:
    return set(user.team_memberships.values_list("team_id", flat=True)) if role_of(user) else set()


def can_edit_scope(user: Any, product_id: int | None, team_id: int | None = None) -> bool:
    """May the user create or edit an objective for this product (and team)?"""
    allowed = editable_product_ids(user)
    if allowed is None:
        return True
    if product_id is None:
        return False  # company level: lead only
    return product_id in allowed or (team_id is not None and team_id in user_team_ids(user))


def can_edit(user: Any, objective: Objective) -> bool:
    return can_edit_scope(user, objective.product_id, objective.team_id)
