"""The inbound webhook: Standard Webhooks signatures, the time window, replays, the size cap, schemas."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client, RequestFactory

from connectors import webhooks
from connectors.models import Connection, WebhookDelivery
from connectors.secrets import decrypt as decrypt_secrets
from connectors.sources.webhook import WebhookConnector
from productops.portfolio.models import PortfolioItem, Product
from productops.signals.models import Metric, MetricPoint, NpsResponse, SupportTicket

NPS_BODY = [
    {"id": "resp-1", "score": 9, "submitted_at": "2026-11-02T10:00:00Z", "comment": "Love the export"},
    {"id": "resp-2", "score": 3, "submitted_at": 1762077600, "segment": {"plan": "pro"}},
]


def make_connection(family: str = "nps", **kwargs: Any) -> tuple[Connection, str]:
    product = Product.objects.create(name="Atlas", slug="atlas")
    connection = Connection.objects.create(
        name=f"{family} hook", kind="webhook", config={"family": family}, product=product, **kwargs
    )
    secret = webhooks.ensure_endpoint(connection)
    assert secret is not None
    return connection, secret


def url(connection: Connection) -> str:
    return f"/hooks/{connection.config['webhook_token']}/"


def signed_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, ts: int | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": webhooks.sign(secret, msg_id, ts, body),
    }


def post(connection: Connection, body: bytes, headers: dict[str, str]) -> Any:
    return Client().post(url(connection), data=body, content_type="application/json", headers=headers)


@pytest.fixture
def hook(db: Any) -> tuple[Connection, str]:
    return make_connection("nps")


def test_the_published_standard_webhooks_example_verifies() -> None:
    # The example from the Standard Webhooks / Svix documentation.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert webhooks.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": expected,
    }
    assert webhooks.verify(secret, headers, body, now=1614265330 + 60) == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(secret, headers, body + b" ", now=1614265330)


def test_valid_delivery_is_written_with_the_connection_source_key(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    response = post(connection, body, signed_headers(secret, body))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "accepted",
        "webhook_id": response.json()["webhook_id"],
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
    }
    rows = {r.external_id: r for r in NpsResponse.objects.all()}
    assert set(rows) == {"resp-1", "resp-2"}
    assert (
        rows["resp-1"].source_key == f"conn:{connection.pk}" and rows["resp-1"].connection_id == connection.pk
    )
    assert rows["resp-1"].product_id == connection.product_id and rows["resp-1"].comment == "Love the export"
    assert rows["resp-2"].segment == {"plan": "pro"} and rows["resp-2"].submitted_at.year == 2025
    assert WebhookDelivery.objects.filter(connection=connection).count() == 1


def test_one_of_several_signatures_is_enough(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY[:1]).encode()
    headers = signed_headers(secret, body)
    other = webhooks.sign(
        webhooks.generate_secret(), headers["webhook-id"], headers["webhook-timestamp"], body
    )
    headers["webhook-signature"] = f"v1,bm90IGl0 v1a,ZWQyNTUxOQ== {other} {headers['webhook-signature']}"
    assert post(connection, body, headers).status_code == 200
    assert NpsResponse.objects.count() == 1


@pytest.mark.parametrize(
    "case",
    [
        "tampered_body",
        "wrong_secret",
        "old_timestamp",
        "future_timestamp",
        "only_other_versions",
    ],
)
def test_inauthentic_requests_are_refused_and_write_nothing(hook: tuple[Connection, str], case: str) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    now = int(time.time())
    if case == "tampered_body":
        headers = signed_headers(secret, body)
        body = body.replace(b'"score": 3', b'"score": 0')
    elif case == "wrong_secret":
        headers = signed_headers(webhooks.generate_secret(), body)
    elif case == "old_timestamp":
        headers = signed_headers(secret, body, ts=now - 5 * 60 - 5)
    elif case == "future_timestamp":
        headers = signed_headers(secret, body, ts=now + 5 * 60 + 5)
    else:
        headers = signed_headers(secret, body)
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    response = post(connection, body, headers)
    assert response.status_code == 401
    assert "Signature check failed" in response.json()["error"]
    assert NpsResponse.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_timestamps_inside_the_window_are_accepted(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    now = int(time.time())
    assert post(connection, body, signed_headers(secret, body, ts=now - 5 * 60 + 10)).status_code == 200
    assert post(connection, body, signed_headers(secret, body, ts=now + 5 * 60 - 10)).status_code == 200


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_refused(hook: tuple[Connection, str], missing: str) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    headers = signed_headers(secret, body)
    del headers[missing]
    response = post(connection, body, headers)
    assert response.status_code == 401 and missing in response.json()["error"]
    assert NpsResponse.objects.count() == 0


def test_a_replayed_webhook_id_gets_200_and_writes_nothing(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    headers = signed_headers(secret, body, msg_id="msg_replayed")
    assert post(connection, body, headers).json()["inserted"] == 2
    # Same id, a different (validly signed) body: still a no-op.
    changed = json.dumps([{**NPS_BODY[0], "score": 1, "id": "resp-99"}]).encode()
    response = post(connection, changed, signed_headers(secret, changed, msg_id="msg_replayed"))
    assert response.status_code == 200 and response.json()["status"] == "duplicate"
    assert sorted(NpsResponse.objects.values_list("external_id", flat=True)) == ["resp-1", "resp-2"]
    assert WebhookDelivery.objects.count() == 1


def test_a_body_over_256_kib_is_refused(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    big = json.dumps([{**NPS_BODY[0], "id": f"r{i}", "comment": "x" * 300} for i in range(900)]).encode()
    assert len(big) > webhooks.MAX_BODY_BYTES
    response = post(connection, big, signed_headers(secret, big))
    assert response.status_code == 413
    assert NpsResponse.objects.count() == 0


class TrackingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.bytes_read += len(chunk)
        return chunk


def _raw_request(
    connection: Connection, stream: TrackingStream, length: int, headers: dict[str, str]
) -> WSGIRequest:
    base = RequestFactory().generic("POST", url(connection), data=b"", content_type="application/json")
    environ = {**base.environ, "wsgi.input": stream, "CONTENT_LENGTH": str(length)}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return WSGIRequest(environ)


def test_an_oversized_content_length_is_refused_before_reading_a_byte(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    stream = TrackingStream(b"x" * (webhooks.MAX_BODY_BYTES + 10))
    request = _raw_request(connection, stream, webhooks.MAX_BODY_BYTES + 10, signed_headers(secret, b"x"))
    response = webhooks.receive(request, token=connection.config["webhook_token"])
    assert response.status_code == 413
    assert stream.bytes_read == 0


def test_the_body_read_is_capped_at_the_limit_plus_one(
    hook: tuple[Connection, str], monkeypatch: Any
) -> None:
    """If a server passes a body longer than its declared length, at most cap+1 bytes are read."""
    connection, secret = hook
    monkeypatch.setattr(webhooks, "MAX_BODY_BYTES", 1000)
    stream = TrackingStream(b"y" * 50_000)
    request = _raw_request(connection, stream, 50_000, signed_headers(secret, b"y"))
    request.META["CONTENT_LENGTH"] = "900"  # lies: the stream holds far more than the declared length
    response = webhooks.receive(request, token=connection.config["webhook_token"])
    assert response.status_code == 413
    assert stream.bytes_read <= 1001


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "no records"),
        (b'"hello"', "JSON list of records"),
        (
            json.dumps([{"id": "a", "score": 11, "submitted_at": "2026-11-02T10:00:00Z"}]).encode(),
            "records[0].score: must be at most 10",
        ),
        (json.dumps([{"score": 5, "submitted_at": "yesterday"}]).encode(), "records[0].id: is required"),
        (
            json.dumps([{"id": "a", "score": 5, "submitted_at": "yesterday"}]).encode(),
            "records[0].submitted_at: must be an ISO 8601",
        ),
        (json.dumps([{"id": "a", "score": True, "submitted_at": "2026-11-02"}]).encode(), "records[0].score"),
    ],
)
def test_bodies_that_do_not_fit_the_schema_get_a_clear_400(
    hook: tuple[Connection, str], body: bytes, message: str
) -> None:
    connection, secret = hook
    response = post(connection, body, signed_headers(secret, body))
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert NpsResponse.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_metric_points_create_their_metric(db: Any) -> None:
    connection, secret = make_connection("metrics")
    body = json.dumps(
        {
            "records": [
                {"metric": "signups", "ts": "2026-11-01T00:00:00Z", "value": 42},
                {"metric": "signups", "ts": "2026-11-02T00:00:00Z", "value": 40.5},
                {
                    "metric": "signups",
                    "ts": "2026-11-02T00:00:00Z",
                    "value": 12,
                    "dimension_key": "platform",
                    "dimension_value": "android",
                },
            ]
        }
    ).encode()
    response = post(connection, body, signed_headers(secret, body))
    assert response.status_code == 200, response.content
    metric = Metric.objects.get()
    assert (metric.key, metric.source_key, metric.product_id) == (
        "signups",
        f"conn:{connection.pk}",
        connection.product_id,
    )
    assert MetricPoint.objects.filter(metric=metric).count() == 3
    # A second delivery updating a value updates, not duplicates.
    body2 = json.dumps([{"metric": "signups", "ts": "2026-11-01T00:00:00Z", "value": 43}]).encode()
    assert post(connection, body2, signed_headers(secret, body2)).json()["updated"] == 1
    assert MetricPoint.objects.count() == 3 and Metric.objects.count() == 1


def test_tickets_and_portfolio_items(db: Any) -> None:
    tickets, secret = make_connection("tickets")
    body = json.dumps(
        [
            {
                "id": "T-1",
                "opened_at": "2026-11-01T09:00:00Z",
                "subject": "Export fails",
                "status": "Open",
                "tags": ["billing", "export"],
            }
        ]
    ).encode()
    assert post(tickets, body, signed_headers(secret, body)).status_code == 200
    ticket = SupportTicket.objects.get()
    assert ticket.status == "open" and ticket.tags == ["billing", "export"]

    Product.objects.all().delete()
    items, secret2 = make_connection("portfolio")
    body = json.dumps(
        [
            {
                "id": "PROJ-7",
                "title": "Billing export v2",
                "kind": "epic",
                "status_category": "in_progress",
                "target_date": "2026-12-15",
            }
        ]
    ).encode()
    assert post(items, body, signed_headers(secret2, body)).status_code == 200
    item = PortfolioItem.objects.get()
    assert (item.kind, item.status_category, str(item.target_date)) == ("epic", "in_progress", "2026-12-15")


def test_unknown_token_paused_connection_and_get(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    assert Client().post("/hooks/nope/", data=body, content_type="application/json").status_code == 404
    assert Client().get(url(connection)).status_code == 405
    connection.enabled = False
    connection.save()
    assert post(connection, body, signed_headers(secret, body)).status_code == 409


def test_secret_is_stored_encrypted_and_the_connector_checks_config(hook: tuple[Connection, str]) -> None:
    connection, secret = hook
    connection.refresh_from_db()
    assert secret.startswith("whsec_") and secret not in connection.secrets_encrypted
    assert secret not in json.dumps(connection.config)
    secrets = decrypt_secrets(connection.secrets_encrypted)
    assert secrets == {"signing_secret": secret}
    assert webhooks.ensure_endpoint(connection) is None  # idempotent: no new secret
    ok = WebhookConnector(connection.config, secrets).check()
    assert ok.ok and connection.config["webhook_token"] in ok.message
    bad = WebhookConnector({"family": "weather"}, {}).check()
    assert not bad.ok and "Choose what the records are" in bad.message
    assert list(WebhookConnector(connection.config, secrets).read("records", None)) == []


def test_lead_creates_a_webhook_in_the_ui_and_sees_the_secret_once(lead_client: Client) -> None:
    form = {
        "name": "Survey pushes",
        "schedule_kind": "manual",
        "interval_minutes": "60",
        "family": "nps",
        "action": "save",
    }
    response = lead_client.post("/connectors/add/webhook/", form)
    assert response.status_code == 200
    connection = Connection.objects.get(name="Survey pushes")
    secret = decrypt_secrets(connection.secrets_encrypted)["signing_secret"]
    html = response.content.decode()
    assert secret.startswith("whsec_") and secret in html and url(connection) in html

    # Afterwards the page says a secret is set but never shows it again, and an edit keeps the URL.
    assert secret not in lead_client.get(f"/connectors/{connection.pk}/").content.decode()
    token = connection.config["webhook_token"]
    lead_client.post(f"/connectors/{connection.pk}/edit/", {**form, "name": "Survey pushes 2"})
    connection.refresh_from_db()
    assert connection.config["webhook_token"] == token and connection.config["family"] == "nps"

    body = json.dumps(NPS_BODY).encode()
    assert post(connection, body, signed_headers(secret, body)).status_code == 200
    assert NpsResponse.objects.filter(source_key=f"conn:{connection.pk}").count() == 2


# --- Hostile input: every case gets a 400 with a reason, never a 500 ------------------------------


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("1" * 4301, "webhook-timestamp"),  # int() refuses more than 4,300 digits
        ("١٧٦٢٠٧٧٦٠٠", "webhook-timestamp"),  # Arabic-Indic digits pass str.isdigit()
        ("²", "webhook-timestamp"),
        ("2026-11-02T10:00:00Z", "webhook-timestamp"),
        ("17620776ÿ0", "webhook-timestamp"),  # non-ASCII (a Latin-1 header byte)
    ],
    ids=["4301-digits", "arabic-indic-digits", "superscript-two", "iso-date", "latin1-byte"],
)
def test_a_hostile_timestamp_is_refused_before_the_signature_check(
    hook: tuple[Connection, str], timestamp: str, reason: str
) -> None:
    connection, secret = hook
    body = json.dumps(NPS_BODY).encode()
    headers = {**signed_headers(secret, body), "webhook-timestamp": timestamp}
    response = post(connection, body, headers)
    assert response.status_code == 400
    assert "Malformed webhook headers" in response.json()["error"] and reason in response.json()["error"]
    assert NpsResponse.objects.count() == 0


def _nested(depth: int) -> bytes:
    return b'{"records": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_BODIES = {
    "nested-100k-deep": (_nested(100_000), "nested"),
    "400-digit-integer": (
        b'[{"id": "r1", "score": ' + b"9" * 400 + b', "submitted_at": "2026-11-02T10:00:00Z"}]',
        "number",
    ),
    "400-digit-integer-in-a-text-field": (
        b'[{"id": ' + b"9" * 400 + b', "score": 9, "submitted_at": "2026-11-02T10:00:00Z"}]',
        "number",
    ),
    "1e300": (b'[{"id": "r1", "score": 1e300, "submitted_at": "2026-11-02T10:00:00Z"}]', "number"),
    "1e400-infinity": (b'[{"id": "r1", "score": 1e400, "submitted_at": "2026-11-02T10:00:00Z"}]', "number"),
    "NaN": (b'[{"id": "r1", "score": NaN, "submitted_at": "2026-11-02T10:00:00Z"}]', "number"),
    "NUL-escaped": (
        b'[{"id": "r1", "score": 9, "submitted_at": "2026-11-02T10:00:00Z", "comment": "a\\u0000b"}]',
        "NUL",
    ),
    "NUL-in-a-key": (
        b'[{"id": "r1", "score": 9, "submitted_at": "2026-11-02T10:00:00Z", "segment": {"a\\u0000": "x"}}]',
        "NUL",
    ),
    "lone-surrogate": (
        b'[{"id": "r1", "score": 9, "submitted_at": "2026-11-02T10:00:00Z", "comment": "x\\ud800y"}]',
        "surrogate",
    ),
    "invalid-utf8": (b'[{"id": "r1", "score": 9, "comment": "\xff\xfe"}]', "JSON"),
}


@pytest.mark.parametrize(("body", "reason"), HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_signed_body_gets_a_400_with_a_reason_and_writes_nothing(
    db: Any, body: bytes, reason: str
) -> None:
    for family in ("nps", "metrics"):
        connection, secret = make_connection(family) if family == "nps" else _second(family)
        response = post(connection, body, signed_headers(secret, body))
        assert response.status_code == 400, (family, response.content[:300])
        assert reason in json.dumps(response.json()), (family, response.json())
    assert NpsResponse.objects.count() == 0 and MetricPoint.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


def _second(family: str) -> tuple[Connection, str]:
    connection = Connection.objects.create(
        name=f"{family} hook", kind="webhook", config={"family": family}, product=Product.objects.get()
    )
    secret = webhooks.ensure_endpoint(connection)
    assert secret is not None
    return connection, secret
