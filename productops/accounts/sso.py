"""OpenID Connect single sign-on (Google Workspace, Okta, Azure AD, Keycloak…) on mozilla-django-oidc.

Configured from the environment: OIDC_ISSUER (the provider's issuer URL), OIDC_CLIENT_ID and
OIDC_CLIENT_SECRET. The provider's endpoints come from its discovery document
(`<issuer>/.well-known/openid-configuration`, cached), so nothing else needs copying by hand.

Who may sign in: an active user whose e-mail matches the verified `email` claim; someone holding a
pending invitation for that address (the account is made with the invited role); or, when
OIDC_AUTO_PROVISION_DOMAINS lists the address's domain, anyone there, as a PM. A deactivated user is
refused. ID tokens are checked for signature (the provider's JWKS), issuer, audience, expiry and nonce.

The issuer is set by the operator, not by users, so it doesn't go through the SSRF guard: identity
providers are often on the internal network (Keycloak), which the guard would refuse.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from . import invitations
from .models import Profile
from .roles import Role, public
from .services import set_role

log = logging.getLogger(__name__)

DISCOVERY_CACHE_SECONDS = 3600
CLOCK_SKEW_SECONDS = 120


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def discovery() -> dict[str, Any]:
    """The provider's discovery document, fetched once an hour (a clear error if it can't be read)."""
    issuer = settings.OIDC_ISSUER.rstrip("/")
    key = f"oidc-discovery:{issuer}"
    doc = cache.get(key)
    if doc is None:
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            doc = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ImproperlyConfigured(
                f"Single sign-on: can't read the provider's discovery document {url}: {exc}"
            ) from exc
        missing = [
            k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)
        ]
        if missing:
            raise ImproperlyConfigured(
                f"Single sign-on: the discovery document {url} lacks {', '.join(missing)}."
            )
        cache.set(key, doc, DISCOVERY_CACHE_SECONDS)
    return dict(doc)


def _signing_algorithm(doc: dict[str, Any]) -> str:
    offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    for algo in ("RS256", "ES256", "RS384", "RS512", "ES384", "ES512"):
        if algo in offered:
            return algo
    raise ImproperlyConfigured(f"Single sign-on: no supported ID token signing algorithm among {offered}.")


class ProductopsOIDCBackend(OIDCAuthenticationBackend):
    """Endpoints from discovery; users matched by verified e-mail; provisioning by invitation or domain."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_IDP_SIGN_KEY = None
        self._doc: dict[str, Any] | None = None

    def _discovered(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = discovery()
        return self._doc

    # The base class reads these as attributes; resolve them from discovery only when a sign-in happens.
    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return str(self._discovered()["token_endpoint"])

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return str(self._discovered().get("userinfo_endpoint") or "")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return str(self._discovered()["jwks_uri"])

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return _signing_algorithm(self._discovered())

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        if not enabled() or request is None or "code" not in request.GET:
            return None  # a password login: not ours
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        doc = self._discovered()
        now = time.time()
        if payload.get("iss") != doc["issuer"]:
            raise SuspiciousOperation("ID token issuer does not match the provider.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token was not issued for this client.")
        if not isinstance(payload.get("exp"), int | float) or payload["exp"] < now - CLOCK_SKEW_SECONDS:
            raise SuspiciousOperation("ID token has expired.")
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            claims.update(super().get_userinfo(access_token, id_token, payload))
            if claims.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("Userinfo belongs to another subject than the ID token.")
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        email = str(claims.get("email") or "")
        if "@" not in email:
            return False
        # Providers that say so must have verified the address; Azure AD omits the claim.
        return claims.get("email_verified", True) not in (False, "false")

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(email__iexact=claims["email"].strip(), is_active=True)

    def create_user(self, claims: dict[str, Any]) -> Any:
        email = claims["email"].strip().lower()
        if self.UserModel.objects.filter(email__iexact=email, is_active=False).exists():
            log.info("sso: refused %s, the account is deactivated", email)
            return None
        invitation = invitations.pending_for_email(email)
        if invitation is not None:
            return invitations.accept(invitation, username=invitations.free_username(email), password=None)
        domain = email.rsplit("@", 1)[1]
        if domain not in settings.OIDC_AUTO_PROVISION_DOMAINS:
            log.info(
                "sso: refused %s, no account, no invitation and the domain is not auto-provisioned", email
            )
            return None
        user = self.UserModel(username=invitations.free_username(email), email=email)
        user.set_unusable_password()
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.save()
        set_role(user, Role.PM)
        Profile.objects.get_or_create(user=user)
        return user

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        return user

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


@public
class SSOStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's authorization endpoint (state, nonce and PKCE)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID

    @property
    def OIDC_OP_AUTH_ENDPOINT(self) -> str:
        return str(discovery()["authorization_endpoint"])

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            messages.error(request, "Single sign-on is not configured.")
            return redirect("accounts:login")
        try:
            return super().get(request)
        except ImproperlyConfigured as exc:
            log.error("%s", exc)
            messages.error(
                request, "Single sign-on is unavailable right now: the identity provider can't be reached."
            )
            return redirect("accounts:login")


@public
class SSOCallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: exchanges the code, then logs in or explains the refusal."""

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().get(request)
        except (SuspiciousOperation, jwt.PyJWTError, requests.RequestException, ImproperlyConfigured) as exc:
            # A replayed or forged callback, a bad token, or the provider down: refuse, never a 500.
            log.warning("sso: sign-in refused: %s", exc)
            return self.login_failure()

    def login_failure(self) -> HttpResponse:
        messages.error(
            self.request,
            "Single sign-on didn't let you in: your account may be deactivated, or your address has no "
            "account or invitation here. Ask your product-ops lead.",
        )
        return redirect("accounts:login")
