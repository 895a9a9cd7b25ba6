"""Behind a trusted reverse proxy the log-in lock-out keys on the client's address, not the proxy's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from productops.accounts.client_ip import client_ip

PROXY = "10.0.0.2"  # every request reaches the app from the proxy


def _login(password: str, client_address: str, *, spoofed: str = "") -> Any:
    forwarded = f"{spoofed}, {client_address}" if spoofed else client_address
    return Client().post(
        "/accounts/login/",
        {"username": "pm", "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
def test_an_attacker_behind_the_proxy_cannot_lock_out_everyone(pm_user: Any, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login("wrong", "203.0.113.66")
    assert _login("pm-pass-123!", "203.0.113.66").status_code == 429  # the attacker is locked out
    # A forged X-Forwarded-For entry on the left changes nothing: the proxy's entry is the right-most.
    assert _login("pm-pass-123!", "203.0.113.66", spoofed="198.51.100.7").status_code == 429
    # The real user, from their own address through the same proxy, still gets in.
    assert _login("pm-pass-123!", "198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_without_a_trusted_proxy_the_header_is_ignored(pm_user: Any, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login("wrong", f"203.0.113.{n}")  # a client rotating a header it writes itself
    assert _login("pm-pass-123!", "198.51.100.7").status_code == 429


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "203.0.113.5", PROXY),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        (2, "1.2.3.4, 203.0.113.5, 10.0.0.9", "203.0.113.5"),
        (2, "203.0.113.5", PROXY),  # fewer hops than proxies: the header is not trusted
        (1, "", PROXY),
        (1, "not-an-ip", PROXY),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_client_ip(settings: Any, count: int, forwarded: str, expected: str) -> None:
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
