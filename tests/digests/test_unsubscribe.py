"""One-click unsubscribe (RFC 8058): POST with the signed token, no session or CSRF; GET only asks."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client

from productops.digests.models import Subscription
from productops.digests.tokens import make_unsubscribe_token

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db


def test_post_without_session_or_csrf_unsubscribes() -> None:
    user = make_subscriber("alice", "UTC")
    client = Client(enforce_csrf_checks=True)  # as a mail provider would: no cookie, no CSRF token
    response = client.post(
        f"/digests/unsubscribe/{make_unsubscribe_token(user.pk)}/", {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    sub = Subscription.objects.get(user=user)
    assert sub.enabled is False and sub.unsubscribed_at is not None


def test_get_only_shows_a_confirmation_and_changes_nothing() -> None:
    user = make_subscriber("alice", "UTC")
    token = make_unsubscribe_token(user.pk)
    response = Client().get(f"/digests/unsubscribe/{token}/")
    assert response.status_code == 200
    assert b"Unsubscribe from the weekly digest?" in response.content
    assert f'action="/digests/unsubscribe/{token}/"'.encode() in response.content
    assert Subscription.objects.get(user=user).enabled is True


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_token_gets_400_and_changes_nothing(method: str) -> None:
    user = make_subscriber("alice", "UTC")
    other = make_subscriber("bob", "UTC")
    token = make_unsubscribe_token(user.pk)
    # Swap in another user's id but keep the signature: the signature no longer matches.
    forged = make_unsubscribe_token(other.pk).split(":")[0] + ":" + token.split(":", 1)[1]
    for bad in (token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"), forged, "nope"):
        response = getattr(Client(enforce_csrf_checks=True), method)(f"/digests/unsubscribe/{bad}/")
        assert response.status_code == 400, bad
    assert Subscription.objects.filter(enabled=True).count() == 2


def test_expired_token_gets_400() -> None:
    user = make_subscriber("alice", "UTC")
    with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tick=False):
        token = make_unsubscribe_token(user.pk)
    with time_machine.travel(dt.datetime(2026, 6, 1, tzinfo=dt.UTC), tick=False):
        response = Client().post(f"/digests/unsubscribe/{token}/")
    assert response.status_code == 400
    assert b"expired" in response.content
    assert Subscription.objects.get(user=user).enabled is True
