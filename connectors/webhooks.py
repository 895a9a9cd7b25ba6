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


class WebhookVerificationError(Exception):
    """The request is not authentic; the message says which check failed (never the secret)."""


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
    if not timestamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp must be an integer number of Unix seconds")
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
    except WebhookVerificationError as exc:
        logger.info("webhook refused for connection %s: %s", connection.pk, exc)
        return _error(401, f"Signature check failed: {exc}.")

    if WebhookDelivery.objects.filter(connection=connection, webhook_id=webhook_id).exists():
        return JsonResponse({"status": "duplicate", "webhook_id": webhook_id}, status=200)

    family = str(connection.config.get("family", ""))
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _error(400, f"The body is not valid JSON ({exc}).")
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
