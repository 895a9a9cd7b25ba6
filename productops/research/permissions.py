"""Who may edit research: the product-ops lead, and the PMs of the study's product.

A PM is "of a product" when they belong to a team that works on it (`digests.TeamMembership` and
`Team.products`), the same rule as goals. Studies without a product are the lead's. Everyone with a
role may read.
"""

from __future__ import annotations

from typing import Any

from productops.accounts.roles import Role, role_of
from productops.portfolio.models import Product


def editable_product_ids(user: Any) -> set[int] | None:
    """The products whose research the user may edit; None means every one (the lead)."""
    role = role_of(user)
    if role == Role.LEAD:
        return None
    if role != Role.PM:
        return set()
    return set(Product.objects.filter(teams__memberships__user=user).values_list("pk", flat=True).distinct())


def can_edit_product(user: Any, product_id: int | None) -> bool:
    allowed = editable_product_ids(user)
    if allowed is None:
        return True
    return product_id is not None and product_id in allowed
