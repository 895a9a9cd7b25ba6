"""Tracker webhooks as a nudge: Jira, GitHub, GitLab or Linear call /hooks/tracker/<token>/ on a change,
and productops queues an incremental sync of that connection at once.

The body is never written: the scheduled sync stays the source of truth, and a nudge only brings the
next incremental read forward (a run already queued or running absorbs it). So a forged call can at
worst start a sync; the random URL token identifies the connection, and when the connection has a
"webhook secret" the tool's own signature is required too:

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``;
- Jira (Cloud, and Data Center 10+ when a secret is set): ``X-Hub-Signature: sha256=<hex HMAC>``;
- Linear: ``Linear-Signature: <hex HMAC-SHA256(secret, body)>``;
- GitLab: ``X-Gitlab-Token: <secret>`` (a shared token, not a signature).

`manage.py tracker_hook <connection id>` creates the URL token and prints the URL to paste into the tool.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from productops.accounts.roles import public

from .models import Connection

log = logging.getLogger(__name__)

TRACKER_KINDS = ("jira_cloud", "jira_dc", "github", "gitlab", "linear")
TOKEN_FIELD = "hook_token"  # noqa: S105  (a config key name, not a secret)
SECRET_FIELD = "hook_secret"  # noqa: S105  (a secrets key name)
MAX_BODY_BYTES = 1024 * 1024


def ensure_hook(connection: Connection) -> str:
    """Give a tracker connection its webhook URL token (once) and return the full URL."""
    if not connection.config.get(TOKEN_FIELD):
        connection.config = {**connection.config, TOKEN_FIELD: uuid.uuid4().hex}
        connection.save(update_fields=["config", "updated_at"])
    path = reverse("webhooks:tracker_nudge", kwargs={"token": connection.config[TOKEN_FIELD]})
    return f"{settings.SITE_URL}{path}"


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(kind: str, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Check the tool's own signature (or shared token) for `kind`; constant-time comparisons."""
    if kind == "gitlab":
        return hmac.compare_digest(headers.get("X-Gitlab-Token", "").encode(), secret.encode())
    if kind == "linear":
        sent = headers.get("Linear-Signature", "")
        return hmac.compare_digest(sent.encode(), _hex_hmac(secret, body).encode())
    name = "X-Hub-Signature-256" if kind == "github" else "X-Hub-Signature"
    sent = headers.get(name, "")
    return hmac.compare_digest(sent.encode(), f"sha256={_hex_hmac(secret, body)}".encode())


@public
@csrf_exempt
@require_POST
def nudge(request: HttpRequest, token: str) -> JsonResponse:
    from .sync import request_sync

    connection = Connection.objects.filter(kind__in=TRACKER_KINDS, config__hook_token=token).first()
    if connection is None:
        return JsonResponse(
            {"error": "No tracker connection has this URL. Run manage.py tracker_hook <id>."}, status=404
        )
    if not connection.enabled:
        return JsonResponse({"error": "This connection is paused; resume it first."}, status=409)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return JsonResponse({"error": "The body is too large."}, status=413)
    secret = connection.get_secrets().get(SECRET_FIELD, "")
    if secret and not signature_ok(connection.kind, secret, dict(request.headers), body):
        log.info("tracker hook refused for connection %s: bad signature", connection.pk)
        return JsonResponse(
            {"error": "Signature check failed: check the webhook secret in both places."}, status=401
        )
    run = request_sync(connection, trigger="webhook")
    return JsonResponse({"status": "queued" if run else "already_syncing"}, status=202)
