"""The read endpoints with the pages' filters, cursor pagination, the writes' path, schema and docs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client, RequestFactory

from insights.models import Insight, PendingRecompute
from productops.api.api import api
from productops.dashboards.models import MetricDaily
from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.models import MetricPoint, NpsResponse

from .conftest import ApiClient, assert_problem

pytestmark = pytest.mark.django_db


def test_openapi_schema_and_docs_without_a_cdn() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/products",
        "/api/v1/teams",
        "/api/v1/metrics",
        "/api/v1/metrics/{metric_id}/series",
        "/api/v1/metrics/{metric_id}/points",
        "/api/v1/insights",
        "/api/v1/insights/{insight_id}/triage",
        "/api/v1/incidents",
        "/api/v1/overlaps",
        "/api/v1/themes",
        "/api/v1/nps",
        "/api/v1/experiments",
        "/api/v1/portfolio/items",
        "/api/v1/feedback",
    ):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]
    errors = schema["paths"]["/api/v1/insights"]["get"]["responses"]["404"]["content"]
    assert list(errors) == ["application/problem+json"]
    # Typed payloads: the insight schema names each kind's payload.
    names = set(schema["components"]["schemas"])
    assert {"AnomalyPayload", "ThemePayload", "NpsShiftPayload", "OverlapPayload"} <= names

    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert not re.search(r"(src|href)=\"https?://", html), "the docs page must not load from a CDN"


def test_unknown_endpoint_is_a_problem(pm_read: ApiClient) -> None:
    assert_problem(pm_read.get("/api/v1/nothing-here"), 404)
    assert_problem(pm_read.get("/api/v1/products/nope"), 404)


def test_a_crash_is_a_500_problem() -> None:
    request = RequestFactory().get("/api/v1/products")
    response = api.on_exception(request, RuntimeError("boom"))
    assert response.status_code == 500 and response["Content-Type"] == "application/problem+json"
    assert b"boom" not in response.content


def test_cursor_pagination_walks_every_row_once(pm_read: ApiClient) -> None:
    for i in range(7):
        Product.objects.create(name=f"P{i}", slug=f"p{i}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = pm_read.get("/api/v1/products", **params).json()
        seen += [p["slug"] for p in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and sorted(seen) == sorted(f"p{i}" for i in range(7)) and len(set(seen)) == 7
    assert_problem(pm_read.get("/api/v1/products", cursor="not-a-cursor"), 422)
    assert_problem(pm_read.get("/api/v1/products", limit=0), 422)


def test_filters_are_the_pages_filters(pm_read: ApiClient) -> None:
    atlas = Product.objects.create(name="Atlas", slug="atlas")
    nova = Product.objects.create(name="Nova", slug="nova")
    growth = Team.objects.create(name="Growth", slug="growth")
    growth.products.add(atlas)
    a = Insight.objects.create(kind="anomaly", key="a", title="Atlas fell", product=atlas)
    a.products.add(atlas)
    a.teams.add(growth)
    b = Insight.objects.create(kind="theme", key="b", title="Nova theme", product=nova, severity=3)
    b.products.add(nova)
    ids = lambda **p: [i["id"] for i in pm_read.get("/api/v1/insights", **p).json()["items"]]  # noqa: E731
    assert sorted(ids()) == sorted([a.pk, b.pk])
    assert ids(product="atlas") == [a.pk]
    assert ids(team="growth") == [a.pk]
    assert ids(kind="theme") == [b.pk]
    assert ids(severity=3) == [b.pk]
    assert ids(status="resolved") == []
    body = pm_read.get("/api/v1/insights", product="atlas").json()["items"][0]
    assert body["payload"] == {"extra": {}, **body["payload"]} and "drivers" in body["payload"]
    assert body["url"] == f"/insights/{a.pk}/"
    # What a page ignores with a message is a 422 here, with the page's own words.
    detail = assert_problem(pm_read.get("/api/v1/insights", product="nope"), 422)["detail"]
    assert "No product “nope”" in detail
    assert_problem(pm_read.get("/api/v1/insights", range="9y"), 422)
    assert_problem(pm_read.get("/api/v1/insights", kind="nope"), 422)
    assert_problem(pm_read.get("/api/v1/insights", **{"from": "0001-01-01"}), 422)


def test_series_by_day_week_and_month(pm_read: ApiClient, dashboard_data: dict[str, Any]) -> None:
    metric = dashboard_data["metric"]
    end = dashboard_data["end"]
    # "30d" counts back from the request's today: hold the clock on the fixture's last day, so a
    # midnight passing while the fixture writes can't move the range.
    with time_machine.travel(datetime(end.year, end.month, end.day, 12, tzinfo=UTC), tick=False):
        day = pm_read.get(f"/api/v1/metrics/{metric.pk}/series", range="30d").json()
    assert len(day["points"]) == 30 and day["granularity"] == "day" and day["to"] == end.isoformat()
    total = sum(p["value"] for p in day["points"])
    stored = sum(
        MetricDaily.objects.filter(metric=metric, dimension_key="", day__gte=day["from"]).values_list(
            "value", flat=True
        )
    )
    assert total == pytest.approx(stored)
    week = pm_read.get(f"/api/v1/metrics/{metric.pk}/series", range="30d", granularity="week").json()
    assert sum(p["value"] for p in week["points"]) == pytest.approx(total)
    assert all(p["period"] for p in week["points"]) and len(week["points"]) in (5, 6)
    web = pm_read.get(
        f"/api/v1/metrics/{metric.pk}/series",
        range="30d",
        dimension_key="platform",
        dimension_value="web",
    ).json()
    assert 0 < sum(p["value"] for p in web["points"]) < total
    assert_problem(pm_read.get(f"/api/v1/metrics/{metric.pk}/series", granularity="hour"), 422)
    assert_problem(pm_read.get("/api/v1/metrics/999999/series"), 404)
    listed = pm_read.get("/api/v1/metrics", product="atlas").json()["items"]
    assert [m["key"] for m in listed] == ["signups"] and listed[0]["dimensions"] == ["platform"]
    assert pm_read.get("/api/v1/metrics", team="growth").json()["items"][0]["id"] == metric.pk


def test_push_points_takes_the_write_path(
    lead_write: ApiClient, dashboard_data: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    metric = dashboard_data["metric"]
    before = MetricPoint.objects.filter(metric=metric).count()
    body = {
        "points": [
            {"ts": "2024-01-01T00:00:00Z", "value": 5},
            {"ts": "2024-01-01T00:00:00Z", "value": 2, "dimension_key": "platform", "dimension_value": "web"},
        ]
    }
    PendingRecompute.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_write.post(f"/api/v1/metrics/{metric.pk}/points", body)
    assert response.status_code == 200, response.content
    assert response.json()["inserted"] + response.json()["updated"] == 2
    assert MetricPoint.objects.filter(metric=metric).count() == before + 2
    pending = PendingRecompute.objects.get(family="metrics")
    assert pending.product_key == metric.product_id and metric.pk in pending.metric_ids
    # Again: an upsert, not a duplicate.
    again = lead_write.post(f"/api/v1/metrics/{metric.pk}/points", body).json()
    assert again["unchanged"] == 2 and MetricPoint.objects.filter(metric=metric).count() == before + 2
    bad = {"points": [{"ts": "9999-12-28T00:00:00Z", "value": 1}]}
    assert_problem(lead_write.post(f"/api/v1/metrics/{metric.pk}/points", bad), 422)


def test_push_feedback_takes_the_write_path(
    lead_write: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    product = Product.objects.create(name="Atlas", slug="atlas")
    body = {
        "kind": "nps",
        "product": "atlas",
        "records": [
            {"id": "r1", "score": 9, "submitted_at": "2026-11-01T10:00:00Z", "comment": "Love it"},
            {"id": "r2", "score": 3, "submitted_at": "2026-11-02T10:00:00Z"},
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_write.post("/api/v1/feedback", body)
    assert response.status_code == 200, response.content
    assert set(NpsResponse.objects.values_list("external_id", "product_id", "source_key")) == {
        ("r1", product.pk, "api"),
        ("r2", product.pk, "api"),
    }
    assert PendingRecompute.objects.filter(family="nps", product_key=product.pk).exists()
    nps = ApiClient(None)
    nps.headers = lead_write.headers
    summary = nps.get("/api/v1/nps", product="atlas").json()
    assert summary["overall"]["n"] == 2 and summary["overall"]["nps"] == 0
    assert [m["period"] for m in summary["months"]] == ["2026-11"]
    bad = {"kind": "nps", "records": [{"id": "r3", "score": 11, "submitted_at": "2026-11-01T10:00:00Z"}]}
    detail = assert_problem(lead_write.post("/api/v1/feedback", bad), 422)["detail"]
    assert "score" in detail
    assert_problem(lead_write.post("/api/v1/feedback", {**body, "product": "nope"}), 422)


def test_portfolio_items_filter(pm_read: ApiClient) -> None:
    growth = Team.objects.create(name="Growth", slug="growth")
    core = Team.objects.create(name="Core", slug="core")
    PortfolioItem.objects.create(external_id="G-1", title="Billing", team=growth, kind="epic")
    PortfolioItem.objects.create(external_id="C-1", title="Login", team=core, status_category="done")
    PortfolioItem.objects.create(external_id="C-2", title="Gone", team=core, is_gone=True)

    def titles(**p: Any) -> list[str]:
        return sorted(i["title"] for i in pm_read.get("/api/v1/portfolio/items", **p).json()["items"])

    assert titles() == ["Billing", "Login"]
    assert titles(team="growth") == ["Billing"]
    assert titles(status_category="done") == ["Login"]
    assert titles(kind="epic") == ["Billing"]
    assert_problem(pm_read.get("/api/v1/portfolio/items", kind="saga"), 422)
    for path in ("/api/v1/overlaps", "/api/v1/themes", "/api/v1/experiments", "/api/v1/incidents"):
        assert pm_read.get(path).json() == {"items": [], "next_cursor": None}, path


def test_wrong_method_is_a_405_problem(pm_read: ApiClient) -> None:
    response = pm_read.client.delete("/api/v1/products", headers=pm_read.headers)
    assert_problem(response, 405)
    assert "GET" in response["Allow"]
