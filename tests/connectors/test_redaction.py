"""Secrets are redacted in every form (bare, inside a header value, basic-auth base64, URL-encoded) from
errors, run history, the connection's last error, the attention insight and e-mail, and logs."""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote

import pytest
import responses
from django.core import mail

from connectors.http import HttpClient, RetryPolicy
from connectors.models import Connection, SyncRun
from connectors.redaction import RedactingFilter, forms, redact, secret_scope
from connectors.sync import run_sync

TOKEN = "zd-T0ken+/secret=value9"  # "+", "/" and "=" make the URL-encoded form differ from the bare one
EMAIL = "ops@acme.example"
BASIC = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
EXPORT_URL = "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json"


@pytest.fixture(autouse=True)
def dns(fake_dns: Any) -> Any:
    fake_dns.records.update({"acme.zendesk.com": ["104.16.51.111"], "api.example.test": ["93.184.215.14"]})
    return fake_dns


def every_form() -> list[str]:
    return [TOKEN, quote(TOKEN, safe=""), BASIC, f"Basic {BASIC}"]


def test_forms_cover_header_values_basic_auth_and_url_encoding() -> None:
    found = forms([f"Basic {BASIC}"])
    assert TOKEN in found and BASIC in found and quote(TOKEN, safe="") in found
    assert EMAIL not in found and "Basic" not in found  # a name and the scheme word are not secrets
    bearer = forms(["Bearer abcdef123456"])
    assert "abcdef123456" in bearer and "Bearer" not in bearer
    text = f"echo: token={quote(TOKEN, safe='')} auth=Basic {BASIC} raw={TOKEN} b64={base64.b64encode(TOKEN.encode()).decode()}"
    clean = redact(text, [f"Basic {BASIC}"])  # the header the client sent: its parts are found too
    assert all(form not in clean for form in every_form()) and "[redacted]" in clean
    from_token = redact(text, [TOKEN])  # the stored secret alone: bare, URL-encoded and base64 forms
    assert TOKEN not in from_token and quote(TOKEN, safe="") not in from_token
    assert base64.b64encode(TOKEN.encode()).decode() not in from_token


@responses.activate
def test_the_client_redacts_a_bare_token_echoed_for_a_bearer_header() -> None:
    """The probe's case: only "Bearer <token>" was matched, so an echoed bare token went through."""
    responses.add(
        responses.GET,
        "https://api.example.test/items",
        status=422,
        json={"message": "invalid token s3cr3t-abcdef-123456 in query access_token=s3cr3t-abcdef-123456"},
    )
    client = HttpClient(
        headers={"Authorization": "Bearer s3cr3t-abcdef-123456"}, retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(Exception) as info:
        client.get_json("https://api.example.test/items")
    assert "s3cr3t-abcdef-123456" not in str(info.value) and "[redacted]" in str(info.value)


@responses.activate
@pytest.mark.django_db
def test_a_vendor_echo_of_the_credentials_leaks_nowhere(
    lead_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    connection = Connection.objects.create(
        name="Echo desk",
        kind="zendesk",
        schedule_kind="manual",
        config={"subdomain": "acme", "email": EMAIL, "product_by": "tag"},
    )
    connection.set_secrets({"api_token": TOKEN})
    connection.save()
    echo = (
        f"Couldn't authenticate you. Authorization: Basic {BASIC}; "
        f"query: ?token={quote(TOKEN, safe='')}; token {TOKEN}"
    )
    responses.add(responses.GET, EXPORT_URL, status=401, json={"error": echo})
    caplog.set_level(logging.DEBUG)
    for handler in logging.getLogger().handlers:  # as settings.LOGGING and the worker install it
        handler.addFilter(RedactingFilter())
    result = run_sync(connection.pk, trigger="cli")
    assert result.outcome == "paused"

    run = SyncRun.objects.get(connection=connection)
    connection.refresh_from_db()
    from insights.models import Insight

    insight = Insight.objects.get(key=f"connection:{connection.pk}")
    stored = [
        run.error_message,
        run.traceback,
        connection.last_error,
        connection.paused_reason,
        insight.summary,
    ]
    assert "Couldn't authenticate you" in run.error_message  # positive control: the vendor's words stay
    assert len(mail.outbox) == 1
    sent = mail.outbox[0].body + str(mail.outbox[0].alternatives)
    for form in every_form():
        for text in [*stored, sent]:
            assert form not in text, f"{form!r} leaked"
    assert "authenticate you" in sent
    for form in every_form():
        assert form not in caplog.text
    assert "refused the credentials" in caplog.text


def test_the_log_filter_scrubs_records_written_inside_a_scope(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("productops.test.redaction")
    handler = logging.Handler()
    records: list[logging.LogRecord] = []
    handler.emit = records.append  # type: ignore[method-assign,assignment]
    handler.addFilter(RedactingFilter())
    log.addHandler(handler)
    try:
        with secret_scope([TOKEN]):
            log.warning("vendor said %s", f"bad token {quote(TOKEN, safe='')}")
        log.warning("outside any scope %s", "nothing to hide")
    finally:
        log.removeHandler(handler)
    assert records[0].getMessage() == "vendor said bad token [redacted]"
    assert records[1].getMessage() == "outside any scope nothing to hide"
