"""Bearer-token authentication with the pages' role rules.

Every endpoint names what it needs: `READ` (any role), `WRITE` (any role, a read-write token) or
`LEAD_WRITE` (the product-ops lead, a read-write token). The role is the token owner's role now
(`role_of`), checked exactly as `@pm_required`/`@lead_required` check it on the pages. Then the token's
per-minute allowance is taken (429 with Retry-After past it).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from productops.accounts.roles import Role, role_of

from . import ratelimit
from .models import ApiToken
from .problems import ApiProblem
from .tokens import find_token, touch


class TokenAuth(HttpBearer):
    def __init__(self, *, role: Role = Role.PM, write: bool = False) -> None:
        super().__init__()
        self.role = role
        self.write = write

    def __call__(self, request: HttpRequest) -> Any:
        if not request.headers.get("Authorization"):
            raise ApiProblem(
                401,
                "Send a personal API token as “Authorization: Bearer po_…”; create one under Settings → API tokens.",
                headers={"WWW-Authenticate": 'Bearer realm="productops"'},
            )
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = find_token(token)
        if found is None:
            raise ApiProblem(
                401,
                "This token is unknown or revoked, or its user is deactivated.",
                headers={"WWW-Authenticate": 'Bearer realm="productops", error="invalid_token"'},
            )
        user = found.user
        role = role_of(user)
        if role is None:
            raise ApiProblem(403, "The token's user has no role; a product-ops lead can give one on Users.")
        if self.role == Role.LEAD and role != Role.LEAD:
            raise ApiProblem(403, "This needs the product-ops lead role; the token's user is a PM.")
        if self.write and not found.can_write:
            raise ApiProblem(403, "This token is read-only; create a read-write token to change data.")
        allowance = ratelimit.take(found.pk)
        if not allowance.allowed:
            raise ApiProblem(
                429,
                f"This token sent more than {allowance.limit} requests this minute; "
                f"retry in {allowance.retry_after} s.",
                headers={"Retry-After": str(allowance.retry_after), "RateLimit-Limit": str(allowance.limit)},
            )
        touch(found)
        request.user = user
        return found


READ = TokenAuth()
WRITE = TokenAuth(write=True)
LEAD_WRITE = TokenAuth(role=Role.LEAD, write=True)
