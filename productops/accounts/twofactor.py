"""Optional TOTP two-factor for local accounts (RFC 6238, 30-second steps, 6 digits).

A user turns it on in Settings by scanning a QR code and typing one code; from then on the login form's
password step is followed by a code step before the session is created. A code is accepted once (the
step is remembered), with one step of clock drift either way.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
import segno
from django.db import transaction

from connectors.secrets import decrypt, encrypt

from .models import TwoFactor

ISSUER = "productops"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG markup (no image request, no data: URL for the CSP to refuse)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, dark="#111827", light="#ffffff"))


def _matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    code = "".join(ch for ch in code if not ch.isspace())
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    step = int(now // totp.interval)
    for candidate in (step, step - 1, step + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(candidate), code):
            return candidate
    return None


def code_is_valid_for_secret(secret: str, code: str) -> bool:
    return _matching_step(secret, code) is not None


def enabled(user: Any) -> bool:
    return bool(getattr(user, "pk", None)) and TwoFactor.objects.filter(user=user).exists()


def enable(user: Any, secret: str, code: str) -> bool:
    step = _matching_step(secret, code)
    if step is None:
        return False
    TwoFactor.objects.update_or_create(
        user=user, defaults={"secret_encrypted": encrypt({"totp": secret}), "last_step": step}
    )
    return True


def disable(user: Any) -> None:
    TwoFactor.objects.filter(user=user).delete()


@transaction.atomic
def verify(user: Any, code: str) -> bool:
    """Check a login code; a code (or an older one) already used is refused."""
    row = TwoFactor.objects.select_for_update().filter(user=user).first()
    if row is None:
        return False
    secret = decrypt(row.secret_encrypted).get("totp", "")
    step = _matching_step(secret, code)
    if step is None or step <= row.last_step:
        return False
    row.last_step = step
    row.save(update_fields=["last_step"])
    return True
