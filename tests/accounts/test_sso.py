"""OpenID Connect sign-in against a local provider stub at the HTTP boundary.

The stub answers the three documents a real provider serves (discovery, token, JWKS) plus userinfo,
in the shapes of OpenID Connect Discovery 1.0 / Core 1.0 (RFC 7517 for the JWKS), with an RSA key made
here and ID tokens signed RS256. Everything of ours runs for real: the start view's redirect (state,
nonce, PKCE), the callback, token verification and the user matching/provisioning rules.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.test import Client

from productops.accounts.invitations import invite
from productops.accounts.models import Invitation
from productops.accounts.roles import Role, role_of

ISSUER = "https://idp.example.test/realms/acme"
CLIENT_ID = "productops-client"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "key-2026"


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def sso(settings: Any) -> Any:
    settings.OIDC_ISSUER = ISSUER
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = "s3cret-client"
    settings.OIDC_PROVIDER_NAME = "Acme SSO"
    settings.OIDC_AUTO_PROVISION_DOMAINS = []
    return settings


class Provider:
    """What the identity provider would answer; tests adjust the claims or the key."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.claims: dict[str, Any] = {}
        self.key = KEY
        self.token_status = 200
        self.nonce = ""
        self.token_requests: list[dict[str, list[str]]] = []
        rsps.get(
            f"{ISSUER}/.well-known/openid-configuration",
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                "userinfo_endpoint": f"{ISSUER}/protocol/openid-connect/userinfo",
                "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            },
        )
        public = KEY.public_key().public_numbers()
        rsps.get(
            f"{ISSUER}/protocol/openid-connect/certs",
            json={
                "keys": [
                    {
                        "kty": "RSA",
                        "kid": KID,
                        "use": "sig",
                        "alg": "RS256",
                        "n": _b64(public.n),
                        "e": _b64(public.e),
                    }
                ]
            },
        )
        rsps.add_callback(responses.POST, f"{ISSUER}/protocol/openid-connect/token", callback=self._token)
        rsps.add_callback(
            responses.GET, f"{ISSUER}/protocol/openid-connect/userinfo", callback=self._userinfo
        )

    def _id_token(self) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "user-123",
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
        }
        body.update(self.claims)
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": KID})

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        form = parse_qs(request.body)
        self.token_requests.append(form)
        if self.token_status != 200:
            return (
                self.token_status,
                {},
                json.dumps({"error": "invalid_grant", "error_description": "Code expired"}),
            )
        body = {
            "access_token": "at-1",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self._id_token(),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _userinfo(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        assert request.headers["Authorization"] == "Bearer at-1"
        info = {
            "sub": self.claims.get("sub", "user-123"),
            "email": self.claims.get("email"),
            "email_verified": True,
        }
        info.update(
            {k: v for k, v in self.claims.items() if k in ("email_verified", "given_name", "family_name")}
        )
        return 200, {"Content-Type": "application/json"}, json.dumps(info)


@pytest.fixture
def provider(sso: Any) -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Provider(rsps)


def _sign_in(client: Client, provider: Provider, **claims: Any) -> Any:
    start = client.get("/accounts/sso/start/")
    assert start.status_code == 302
    location = urlparse(start["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/protocol/openid-connect/auth"
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and "openid" in query["scope"][0]
    provider.nonce = query["nonce"][0]
    provider.claims = claims
    return client.get("/accounts/sso/callback/", {"code": "abc", "state": query["state"][0]})


def _user_id(client: Client) -> Any:
    return client.session.get("_auth_user_id")


def test_existing_user_signs_in_by_verified_email(provider: Provider, pm_user: Any) -> None:
    pm_user.email = "Pat@Acme.example"
    pm_user.save()
    client = Client()
    response = _sign_in(client, provider, email="pat@acme.example")
    assert response.status_code == 302 and response["Location"] == "/"
    assert str(_user_id(client)) == str(pm_user.pk)
    assert client.get("/").status_code == 200
    # The code was exchanged with the PKCE verifier and our client credentials.
    form = provider.token_requests[0]
    assert (
        form["grant_type"] == ["authorization_code"] and form["code"] == ["abc"] and form["code_verifier"][0]
    )


def test_unknown_address_is_refused_unless_domain_is_auto_provisioned(
    provider: Provider, sso: Any, db: Any
) -> None:
    client = Client()
    response = _sign_in(client, provider, email="new@acme.example")
    assert response["Location"] == "/accounts/login/" and _user_id(client) is None
    assert not get_user_model().objects.filter(email="new@acme.example").exists()

    sso.OIDC_AUTO_PROVISION_DOMAINS = ["acme.example"]
    client = Client()
    _sign_in(client, provider, email="new@acme.example", given_name="Nia", family_name="Ode")
    user = get_user_model().objects.get(email="new@acme.example")
    assert str(_user_id(client)) == str(user.pk)
    assert role_of(user) == Role.PM and not user.has_usable_password() and user.first_name == "Nia"

    # A look-alike domain is not the configured one.
    client = Client()
    _sign_in(client, provider, email="x@evil-acme.example")
    assert _user_id(client) is None


def test_pending_invitation_provisions_with_its_role(provider: Provider, lead_user: Any) -> None:
    invite("lead.two@partner.example", Role.LEAD, lead_user)
    client = Client()
    _sign_in(client, provider, email="lead.two@partner.example")
    user = get_user_model().objects.get(email="lead.two@partner.example")
    assert role_of(user) == Role.LEAD and str(_user_id(client)) == str(user.pk)
    assert Invitation.objects.get(email="lead.two@partner.example").accepted_user == user


@pytest.mark.parametrize(
    "change",
    [
        "deactivated",
        "wrong_audience",
        "wrong_issuer",
        "expired",
        "bad_signature",
        "unverified_email",
        "token_error",
    ],
)
def test_refusals(provider: Provider, pm_user: Any, change: str) -> None:
    pm_user.email = "pat@acme.example"
    pm_user.save()
    claims: dict[str, Any] = {"email": "pat@acme.example"}
    if change == "deactivated":
        pm_user.is_active = False
        pm_user.save()
    elif change == "wrong_audience":
        claims["aud"] = "someone-else"
    elif change == "wrong_issuer":
        claims["iss"] = "https://evil.example"
    elif change == "expired":
        claims["exp"] = int(time.time()) - 3600
    elif change == "bad_signature":
        provider.key = OTHER_KEY
    elif change == "unverified_email":
        claims["email_verified"] = False
    elif change == "token_error":
        provider.token_status = 400
    client = Client()
    response = _sign_in(client, provider, **claims)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/", change
    assert _user_id(client) is None, change


def test_forged_callback_state_is_refused_not_500(provider: Provider, db: Any) -> None:
    client = Client()
    client.get("/accounts/sso/start/")
    response = client.get("/accounts/sso/callback/", {"code": "abc", "state": "forged"})
    assert response.status_code == 302 and _user_id(client) is None


def test_login_page_offers_sso_and_local_login_can_be_disabled(
    provider: Provider, sso: Any, pm_user: Any
) -> None:
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' in page
    sso.LOCAL_LOGIN_ENABLED = False
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' not in page
    client = Client()
    refused = client.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})
    assert refused.status_code == 403 and _user_id(client) is None


def test_provider_down_gives_a_message_not_a_500(sso: Any, db: Any) -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{ISSUER}/.well-known/openid-configuration", status=503)
        response = Client().get("/accounts/sso/start/", follow=True)
    assert response.status_code == 200
    assert b"identity provider can&#x27;t be reached" in response.content


def test_sso_off_by_default(db: Any) -> None:
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert Client().get("/accounts/sso/start/")["Location"] == "/accounts/login/"
