"""The client's real IP address behind a configured number of trusted reverse proxies.

Log-in lock-out (django-axes) keys on this. Behind a proxy every request arrives from the proxy's
address, so keying on REMOTE_ADDR would let anyone lock a named user out for everyone. Each proxy
appends the address it received the request from to X-Forwarded-For, so with N trusted proxies the
client is the N-th entry from the right; entries further left are whatever the client sent and are
never trusted. TRUSTED_PROXY_COUNT=0 (the default) uses REMOTE_ADDR: set it only when the app is
reachable through the proxies alone.
"""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

log = logging.getLogger(__name__)


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        # Fewer hops than proxies: the request did not come through all of them (or the count is
        # wrong). The connecting address is the only one we know is not made up.
        log.warning(
            "X-Forwarded-For has %s address(es) but TRUSTED_PROXY_COUNT is %s; using REMOTE_ADDR",
            len(forwarded),
            count,
        )
        return remote
    return _valid(forwarded[-count]) or remote
