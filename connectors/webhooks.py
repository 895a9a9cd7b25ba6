"""The inbound webhook: signed pushes of records into one connection.

Each "webhook" connection has a URL (/hooks/<token>/, the token in its config) and a signing secret
(``whsec_<base64>``, encrypted with the connection's secrets). Requests are signed per Standard
Webhooks (https://www.standardwebhooks.com/):

- headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``;
- the signature header holds space-separated ``v1,<base64 HMAC-SHA256>`` entries, any one of which
  may match (senders list several while rotating secrets);
- the HMAC key is the base64-decoded part of the secret after ``whsec_``, and the signed content is
  ``<webhook-id>.<webhook-timestamp>.<raw body>``.

The receiver refuses a body over 256 KiB before reading it, a timestamp more than 5 minutes away in
either direction, and any signature that does not match (compared in constant time). A webhook-id it
has already accepted gets 200 and writes nothing. The body is validated against the connection's
family schema (connectors.family_schemas) and upserted with source_key "conn:<id>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors.family_schemas import RecordError, coerce_payload, schema_for, write_records
from connectors.models import Connection, WebhookDelivery
from connectors.secrets import decrypt as decrypt_secrets
from connectors.secrets import encrypt as encrypt_secrets
from productops.accounts.roles import public
from productops.signals.services import WriteScope, record_write

logger = logging.getLogger(__name__)

KIND = "webhook"
MAX_BODY_BYTES = 256 * 1024
TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_FIELD = "signing_secret"  # noqa: S105 - a field name
TOKEN_FIELD = "webhook_token"  # noqa: S105 - a config key
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}", re.ASCII)
# Limits on a JSON body, checked before anything reaches the schema or the database.
MAX_JSON_DEPTH = 32
MAX_JSON_NUMBER = 2**53  # the largest integer a float (and a JavaScript sender) holds exactly


class WebhookVerificationError(Exception):
    """The request is not authentic; the message says which check failed (never the secret)."""


class WebhookHeaderError(WebhookVerificationError):
    """A signature header is malformed (not merely wrong): the request gets a 400, not a 401."""


# --- Signing ------------------------------------------------------------------------------------


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a Standard Webhooks secret starts with whsec_")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("the secret after whsec_ is not valid base64") from None


def sign(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The `v1,<base64>` signature of one message (what a sender puts in webhook-signature)."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """Check a message's headers and body; return its webhook-id or raise WebhookVerificationError."""
    webhook_id = headers.get("webhook-id", "").strip()
    timestamp = headers.get("webhook-timestamp", "").strip()
    signatures = headers.get("webhook-signature", "").strip()
    missing = [
        name
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    if len(webhook_id) > 255:
        raise WebhookVerificationError("webhook-id is longer than 255 characters")
    # ASCII digits only, and few of them: str.isdigit() passes "²" and other scripts' digits, which
    # int() then refuses, and int() refuses more than 4,300 digits outright.
    if not TIMESTAMP_RE.fullmatch(timestamp):
        raise WebhookHeaderError(
            "webhook-timestamp must be an integer number of Unix seconds (ASCII digits, at most 12)"
        )
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookVerificationError(
            "webhook-timestamp is more than 5 minutes from the server's clock (a replay, or a wrong clock)"
        )
    expected = sign(secret, webhook_id, timestamp, body).encode()
    matched = False
    for candidate in signatures.split(" "):
        if not candidate.startswith("v1,"):
            continue  # other schemes (v1a, future versions) are ignored, per the spec
        # Compare every candidate so the timing does not depend on which one matched.
        matched |= hmac.compare_digest(candidate.encode(), expected)
    if not matched:
        raise WebhookVerificationError("no webhook-signature matches this body and this connection's secret")
    return webhook_id


# --- The body -----------------------------------------------------------------------------------


class UnsafeJson(ValueError):
    """A JSON body that parses but holds a value no table can store; the message says where."""


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a number JSON allows; send a finite number or null")


def parse_json(body: bytes) -> Any:
    """Parse and check a JSON body; raise UnsafeJson with the reason for anything unsafe to store.

    Refused: invalid UTF-8 or JSON, nesting deeper than MAX_JSON_DEPTH (the parser itself recurses),
    NaN/Infinity, numbers beyond ±2^53 (1e300 overflows every integer column and most arithmetic),
    and strings or keys with a NUL (PostgreSQL text refuses it) or a lone surrogate (not encodable).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeJson(
            f"The body is not valid JSON: it is not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnsafeJson(f"The body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except UnsafeJson:
        raise
    except ValueError as exc:  # JSONDecodeError, and int() refusing more than 4,300 digits
        raise UnsafeJson(f"The body is not valid JSON ({exc})") from None
    _check_values(payload)
    return payload


def _check_values(payload: Any) -> None:
    # Iterative, so a deep body cannot exhaust the stack here either.
    stack: list[tuple[Any, str, int]] = [(payload, "$", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise UnsafeJson(f"The body is nested more than {MAX_JSON_DEPTH} levels deep (at {where})")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{where} key {key[:40]!r}")
                stack.append((item, f"{where}.{key[:40]}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise UnsafeJson(f"The number at {where} is not finite")
            if abs(value) > MAX_JSON_NUMBER:
                shown = (
                    f"{value:.3g}" if isinstance(value, float) else f"a {len(str(abs(value)))}-digit integer"
                )
                raise UnsafeJson(
                    f"The number at {where} ({shown}) is out of range: numbers must be within ±2^53"
                )


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise UnsafeJson(f"The text at {where} contains a NUL character (\\u0000), which cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJson(
            f"The text at {where} contains a lone surrogate (an unpaired \\ud800-\\udfff escape), "
            "which is not valid Unicode"
        ) from None


# --- Endpoint services --------------------------------------------------------------------------


def ensure_endpoint(connection: Connection) -> str | None:
    """Give a webhook connection its URL token and signing secret; return the secret if it was new.

    The secret is shown once, when created; afterwards only "set, ends in …" is shown.
    """
    changed = False
    if not connection.config.get(TOKEN_FIELD):
        connection.config = {**connection.config, TOKEN_FIELD: uuid.uuid4().hex}
        changed = True
    stored = decrypt_secrets(connection.secrets_encrypted)
    new_secret = None
    if not stored.get(SECRET_FIELD):
        new_secret = generate_secret()
        connection.secrets_encrypted = encrypt_secrets({**stored, SECRET_FIELD: new_secret})
        changed = True
    if changed:
        connection.save(update_fields=["config", "secrets_encrypted", "updated_at"])
    return new_secret


def rotate_secret(connection: Connection) -> str:
    stored = decrypt_secrets(connection.secrets_encrypted)
    secret = generate_secret()
    connection.secrets_encrypted = encrypt_secrets({**stored, SECRET_FIELD: secret})
    connection.save(update_fields=["secrets_encrypted", "updated_at"])
    return secret


# --- The view -----------------------------------------------------------------------------------


def _error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _read_capped(request: HttpRequest) -> bytes | None:
    """The raw body, or None if it is over the cap. Reads at most MAX_BODY_BYTES + 1 bytes."""
    chunks = []
    remaining = MAX_BODY_BYTES + 1
    while remaining > 0:
        chunk = request.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    body = b"".join(chunks)
    return None if len(body) > MAX_BODY_BYTES else body


@public
@csrf_exempt
@require_POST
def receive(request: HttpRequest, token: str) -> JsonResponse:
    # Refuse an oversized body before reading a byte of it: Content-Length first, then a capped read
    # for chunked bodies that declare no length.
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        if not declared.isdigit():
            return _error(400, "Content-Length is not a number.")
        if int(declared) > MAX_BODY_BYTES:
            return _error(
                413, f"The body is larger than {MAX_BODY_BYTES // 1024} KiB; send fewer records per request."
            )

    connection = Connection.objects.filter(kind=KIND, config__webhook_token=token).first()
    if connection is None:
        return _error(404, "No webhook connection has this URL. Copy the URL from the connection's page.")
    if not connection.enabled:
        return _error(409, "This connection is paused. Resume it on the connections page, then resend.")

    body = _read_capped(request)
    if body is None:
        return _error(
            413, f"The body is larger than {MAX_BODY_BYTES // 1024} KiB; send fewer records per request."
        )

    secret = decrypt_secrets(connection.secrets_encrypted).get(SECRET_FIELD, "")
    if not secret:
        return _error(409, "This connection has no signing secret yet. Open it and generate one.")
    try:
        webhook_id = verify(secret, request.headers, body)
    except WebhookHeaderError as exc:
        logger.info("webhook refused for connection %s: %s", connection.pk, exc)
        return _error(400, f"Malformed webhook headers: {exc}.")
    except WebhookVerificationError as exc:
        logger.info("webhook refused for connection %s: %s", connection.pk, exc)
        return _error(401, f"Signature check failed: {exc}.")

    if WebhookDelivery.objects.filter(connection=connection, webhook_id=webhook_id).exists():
        return JsonResponse({"status": "duplicate", "webhook_id": webhook_id}, status=200)

    family = str(connection.config.get("family", ""))
    try:
        payload = parse_json(body)
    except UnsafeJson as exc:
        return _error(400, f"{exc}.")
    try:
        rows = coerce_payload(family, payload)
    except RecordError as exc:
        return _error(
            400,
            "The body does not match the schema for " + (family or "this connection") + ".",
            details=exc.errors[:20],
            error_count=len(exc.errors),
        )

    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(connection=connection, webhook_id=webhook_id)
            result = write_records(
                family,
                rows,
                source_key=connection.source_key,
                connection_id=connection.pk,
                product_id=connection.product_id,
            )
            delivery.rows = result.total
            delivery.save(update_fields=["rows"])
            if result.inserted or result.updated:
                scope = WriteScope()
                scope.add(schema_for(family).model if family != "metrics" else "signals.MetricPoint", rows)
                record_write(
                    connection.source_key,
                    {family},
                    {connection.product_id},
                    scope.since,
                    connection_id=connection.pk,
                )
    except IntegrityError:
        if WebhookDelivery.objects.filter(connection=connection, webhook_id=webhook_id).exists():
            return JsonResponse({"status": "duplicate", "webhook_id": webhook_id}, status=200)
        raise
    logger.info(
        "webhook %s for connection %s: %s inserted, %s updated, %s unchanged",
        webhook_id,
        connection.pk,
        result.inserted,
        result.updated,
        result.unchanged,
    )
    return JsonResponse(
        {
            "status": "accepted",
            "webhook_id": webhook_id,
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
        },
        status=200,
    )
