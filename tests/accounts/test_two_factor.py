"""Optional TOTP two-factor for local accounts."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from django.test import Client

from productops.accounts.models import TwoFactor


def _code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def _enable_at_step(client: Client) -> tuple[str, int]:
    """Turn two-factor on; return the secret and the 30-second step whose code enabled it."""
    page = client.get("/accounts/settings/two-factor/").content.decode()
    assert "<svg" in page  # the QR code, inline
    secret = re.search(r"<code>([A-Z2-7]{16,})</code>", page).group(1)
    wrong = client.post(
        "/accounts/settings/two-factor/", {"code": "000000" if _code(secret) != "000000" else "111111"}
    )
    assert b"doesn&#x27;t match" in wrong.content
    step = int(time.time() // 30)
    done = client.post("/accounts/settings/two-factor/", {"code": pyotp.TOTP(secret).generate_otp(step)})
    assert done.status_code == 302
    return secret, step


def _enable(client: Client) -> str:
    return _enable_at_step(client)[0]


def test_enable_then_login_needs_a_code_once(pm_user: Any) -> None:
    client = Client()
    client.force_login(pm_user)
    secret, step = _enable_at_step(client)
    totp = pyotp.TOTP(secret)
    row = TwoFactor.objects.get(user=pm_user)
    assert secret not in row.secret_encrypted  # encrypted at rest
    assert b"each login asks for a code" in client.get("/accounts/settings/").content

    browser = Client()
    step1 = browser.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})
    assert step1.status_code == 302 and step1["Location"] == "/accounts/login/code/"
    assert browser.get("/").status_code == 302  # not logged in yet
    bad = browser.post("/accounts/login/code/", {"code": "12345x"})
    assert bad.status_code == 200 and "_auth_user_id" not in browser.session
    # The code that enabled it can't be used again (a code works once), even if the clock has
    # moved on to the next 30-second step meanwhile; the code of the step after it is taken.
    replay = browser.post("/accounts/login/code/", {"code": totp.generate_otp(step)})
    assert replay.status_code == 200 and "_auth_user_id" not in browser.session
    good = browser.post("/accounts/login/code/", {"code": totp.generate_otp(step + 1)})
    assert good.status_code == 302 and browser.get("/").status_code == 200


def test_too_many_wrong_codes_restart_the_login(pm_user: Any) -> None:
    client = Client()
    client.force_login(pm_user)
    _enable(client)
    browser = Client()
    browser.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})
    for _ in range(5):
        last = browser.post("/accounts/login/code/", {"code": "999999"})
    assert last.status_code == 302 and last["Location"] == "/accounts/login/"
    assert browser.get("/accounts/login/code/")["Location"] == "/accounts/login/"


def test_disable_needs_a_current_code(pm_user: Any) -> None:
    client = Client()
    client.force_login(pm_user)
    secret = _enable(client)
    client.post("/accounts/settings/two-factor/disable/", {"code": "not-a-code"})
    assert TwoFactor.objects.filter(user=pm_user).exists()
    client.post("/accounts/settings/two-factor/disable/", {"code": _code(secret, 1)})
    assert not TwoFactor.objects.filter(user=pm_user).exists()
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})["Location"] == "/"


def test_code_step_without_password_step_goes_back_to_login(db: Any) -> None:
    assert Client().get("/accounts/login/code/")["Location"] == "/accounts/login/"


def test_rotate_keys_reencrypts_two_factor_secrets(pm_user: Any, settings: Any) -> None:
    from io import StringIO

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    client = Client()
    client.force_login(pm_user)
    secret = _enable(client)
    old_key, new_key = settings.FERNET_KEYS[0], Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    assert "1 two-factor secret" in out.getvalue()
    settings.FERNET_KEYS = [new_key]  # the old key can go: the code still checks out
    row = TwoFactor.objects.get(user=pm_user)
    Fernet(new_key.encode()).decrypt(row.secret_encrypted.encode())
    browser = Client()
    browser.post("/accounts/login/", {"username": "pm", "password": "pm-pass-123!"})
    assert browser.post("/accounts/login/code/", {"code": _code(secret, 1)}).status_code == 302
