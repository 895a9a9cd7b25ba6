"""Personal API tokens: hashed at rest, shown once, scoped, revocable; role checks as on the pages."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from insights.models import Insight, InsightEvent, InsightStatus
from productops.accounts.roles import Role
from productops.accounts.services import set_role
from productops.api.models import ApiToken
from productops.api.tokens import create_token, digest_of, revoke_token
from productops.portfolio.models import Product
from productops.signals.models import Metric, MetricPoint

from .conftest import ApiClient, assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def insight(db: Any) -> Insight:
    product = Product.objects.create(name="Atlas", slug="atlas")
    return Insight.objects.create(kind="anomaly", key="a1", title="Sign-ups fell", product=product)


@pytest.fixture
def metric(db: Any) -> Metric:
    product = Product.objects.create(name="Nova", slug="nova")
    return Metric.objects.create(
        source_key="demo", external_id="m", product=product, name="Sign-ups", key="signups"
    )


def test_no_token_is_401_problem() -> None:
    response = ApiClient(None).get("/api/v1/products")
    body = assert_problem(response, 401)
    assert "Bearer" in response["WWW-Authenticate"]
    assert body["instance"] == "/api/v1/products"


def test_unknown_and_malformed_tokens_are_401() -> None:
    assert_problem(ApiClient("po_not-a-real-token").get("/api/v1/products"), 401)
    assert_problem(ApiClient("garbage").get("/api/v1/products"), 401)
    assert_problem(Client().get("/api/v1/products", headers={"Authorization": "Basic abc"}), 401)


def test_a_session_without_a_token_is_refused(pm_client: Client) -> None:
    assert_problem(pm_client.get("/api/v1/products"), 401)


def test_token_is_stored_hashed_and_works(pm_user: Any) -> None:
    token, raw = create_token(pm_user, "ci", "read")
    assert raw.startswith("po_") and len(raw) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == digest_of(raw) and raw not in {stored.digest, stored.prefix, stored.name}
    assert stored.last_used_at is None
    response = ApiClient(raw).get("/api/v1/products")
    assert response.status_code == 200, response.content
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_revoked_token_is_refused(pm_user: Any) -> None:
    token, raw = create_token(pm_user, "ci", "write")
    client = ApiClient(raw)
    assert client.get("/api/v1/products").status_code == 200
    revoke_token(token)
    assert_problem(client.get("/api/v1/products"), 401)
    assert_problem(client.post("/api/v1/insights/1/triage", {"action": "resolve"}), 401)


def test_deactivated_user_and_user_without_role_are_refused(pm_user: Any) -> None:
    _, raw = create_token(pm_user, "ci", "read")
    set_role(pm_user, None)
    assert_problem(ApiClient(raw).get("/api/v1/products"), 403)
    set_role(pm_user, Role.PM)
    assert ApiClient(raw).get("/api/v1/products").status_code == 200
    pm_user.is_active = False
    pm_user.save()
    assert_problem(ApiClient(raw).get("/api/v1/products"), 401)


def test_read_only_token_cannot_triage(pm_read: ApiClient, insight: Insight) -> None:
    body = assert_problem(pm_read.post(f"/api/v1/insights/{insight.pk}/triage", {"action": "resolve"}), 403)
    assert "read-only" in body["detail"]
    insight.refresh_from_db()
    assert insight.status == InsightStatus.NEW
    assert pm_read.get(f"/api/v1/insights/{insight.pk}").status_code == 200


def test_pm_write_token_triages_with_a_comment(pm_write: ApiClient, pm_user: Any, insight: Insight) -> None:
    response = pm_write.post(
        f"/api/v1/insights/{insight.pk}/triage", {"action": "acknowledge", "comment": "looking into it"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "acknowledged"
    event = InsightEvent.objects.get(insight=insight)
    assert (event.action, event.comment, event.user) == ("acknowledge", "looking into it", pm_user)

    until = (timezone.now() + timedelta(days=7)).date().isoformat()
    response = pm_write.post(f"/api/v1/insights/{insight.pk}/triage", {"action": "mute", "until": until})
    assert response.json()["status"] == "muted"
    assert response.json()["muted_until"].startswith(until)


def test_triage_rejects_an_unknown_action(pm_write: ApiClient, insight: Insight) -> None:
    body = assert_problem(pm_write.post(f"/api/v1/insights/{insight.pk}/triage", {"action": "delete"}), 422)
    assert body["errors"] and "action" in str(body["errors"])
    assert_problem(pm_write.post("/api/v1/insights/999999/triage", {"action": "resolve"}), 404)


def test_pm_token_cannot_do_lead_things(pm_write: ApiClient, metric: Metric) -> None:
    """Pushing data is the lead's (the Import page and connectors are lead-only), whatever the scope."""
    point = {"points": [{"ts": "2026-11-01T00:00:00Z", "value": 3}]}
    body = assert_problem(pm_write.post(f"/api/v1/metrics/{metric.pk}/points", point), 403)
    assert "lead" in body["detail"]
    feedback = {"kind": "nps", "records": [{"id": "r1", "score": 9, "submitted_at": "2026-11-01T10:00:00Z"}]}
    assert_problem(pm_write.post("/api/v1/feedback", feedback), 403)
    assert not MetricPoint.objects.exists()


def test_lead_read_token_cannot_push(lead_read: ApiClient, metric: Metric) -> None:
    point = {"points": [{"ts": "2026-11-01T00:00:00Z", "value": 3}]}
    assert_problem(lead_read.post(f"/api/v1/metrics/{metric.pk}/points", point), 403)
    assert not MetricPoint.objects.exists()


def test_demoted_lead_token_loses_lead_rights(lead_user: Any, metric: Metric) -> None:
    _, raw = create_token(lead_user, "ci", "write")
    point = {"points": [{"ts": "2026-11-01T00:00:00Z", "value": 3}]}
    assert ApiClient(raw).post(f"/api/v1/metrics/{metric.pk}/points", point).status_code == 200
    set_role(lead_user, Role.PM)
    assert_problem(ApiClient(raw).post(f"/api/v1/metrics/{metric.pk}/points", point), 403)


def test_pm_does_not_see_lead_only_insights(pm_read: ApiClient, lead_read: ApiClient) -> None:
    stale = Insight.objects.create(kind="stale_connector", key="s1", title="Zendesk is stale")
    assert [i["id"] for i in lead_read.get("/api/v1/insights").json()["items"]] == [stale.pk]
    assert pm_read.get("/api/v1/insights").json()["items"] == []
    assert_problem(pm_read.get(f"/api/v1/insights/{stale.pk}"), 404)


def test_rate_limit_per_token(settings: Any, pm_user: Any) -> None:
    settings.API_RATE_LIMIT = 3
    _, raw = create_token(pm_user, "a", "read")
    _, other = create_token(pm_user, "b", "read")
    client = ApiClient(raw)
    # The window is the wall-clock minute: hold the clock 5 s into a minute, so a minute boundary can't
    # pass between the third and the fourth request and open a fresh budget.
    start = (int(time.time()) // 60 + 1) * 60 + 5
    with time_machine.travel(start, tick=False):
        assert [client.get("/api/v1/teams").status_code for _ in range(3)] == [200, 200, 200]
        response = client.get("/api/v1/teams")
        assert_problem(response, 429)
        assert response["Retry-After"] == "55"
        assert ApiClient(other).get("/api/v1/teams").status_code == 200  # per token, not per user


class TestSettingsPage:
    def test_create_shows_the_token_once(self, pm_client: Client, pm_user: Any) -> None:
        page = pm_client.get("/accounts/settings/")
        assert b"API tokens" in page.content and b"No API tokens yet" in page.content
        response = pm_client.post("/accounts/api-tokens/", {"name": "Looker", "scope": "read"})
        assert response.status_code == 200
        token = ApiToken.objects.get(user=pm_user)
        raw = response.context["raw"]
        assert raw.encode() in response.content and digest_of(raw) == token.digest
        again = pm_client.get("/accounts/settings/")
        assert raw.encode() not in again.content
        assert f"po_{token.prefix}".encode() in again.content and b"never" in again.content
        assert ApiClient(raw).get("/api/v1/products").status_code == 200

    def test_revoke_own_token_only(self, pm_client: Client, pm_user: Any, lead_user: Any) -> None:
        mine, raw = create_token(pm_user, "mine", "read")
        theirs, their_raw = create_token(lead_user, "theirs", "read")
        assert pm_client.post(f"/accounts/api-tokens/{theirs.pk}/revoke/").status_code == 404
        assert ApiClient(their_raw).get("/api/v1/products").status_code == 200
        response = pm_client.post(f"/accounts/api-tokens/{mine.pk}/revoke/")
        assert response.status_code == 302
        assert_problem(ApiClient(raw).get("/api/v1/products"), 401)
        page = pm_client.get("/accounts/settings/").content
        assert b"is revoked" in page and b"<td>mine</td>" not in page

    def test_bad_form_and_anonymous(self, pm_client: Client) -> None:
        response = pm_client.post("/accounts/api-tokens/", {"name": "", "scope": "admin"}, follow=True)
        assert b"Give the token a name" in response.content
        assert not ApiToken.objects.exists()
        anonymous = Client().post("/accounts/api-tokens/", {"name": "x", "scope": "read"})
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_a_session_cookie_cannot_write_through_the_api(pm_user: Any, insight: Insight) -> None:
    """The API is CSRF-exempt because a cookie is never its credential: a logged-in browser's forged
    POST carries no token and is refused."""
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(pm_user)
    response = forger.post(
        f"/api/v1/insights/{insight.pk}/triage", {"action": "resolve"}, content_type="application/json"
    )
    assert_problem(response, 401)
    insight.refresh_from_db()
    assert insight.status == InsightStatus.NEW
