"""No query string and no stored row gives a 500: every parameter goes through the one validated parser,
and every page copes with whatever a source wrote (issue 15, items 3 and 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from insights.feedback.models import Theme
from insights.models import Insight
from productops.dashboards import rollups
from productops.portfolio.models import Product
from productops.signals.ingest import upsert
from productops.signals.models import Experiment, Metric, MetricPoint, NpsResponse, SupportTicket
from productops.ui.filters import ALL_TIME, Choice, Int, Segment, parse_filters

pytestmark = pytest.mark.django_db

# Each value the probe found giving a 500 somewhere, and a few of their cousins.
BAD_VALUES = [
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "²",
    "١٢",  # Arabic-Indic digits: isdigit() is True and int() takes them
    "99999999999999999999999",
    "plan__isnull:x",
    "x" * 5000,
    "'; drop table x; --",
]
PARAMS = [
    "product",
    "team",
    "range",
    "from",
    "to",
    "start",
    "end",
    "page",
    "metric",
    "granularity",
    "breakdown",
    "compare",
    "segment",
    "source",
    "score",
    "day",
    "open_at",
    "theme",
    "experiment",
    "sort",
    "status",
    "kind",
    "decision",
    "team_a",
    "team_b",
    "pair",
    "signal",
    "severity",
    "dimension_key",
    "channel",
    "q",
    "week",
    "evidence",
    "level",
    "method",
    "competitor",
    "study",
]


def _pages(data: dict[str, Any]) -> list[str]:
    product = data["product"]
    pages = [
        reverse("dashboards:overview"),
        reverse("dashboards:product", args=[product.slug]),
        reverse("dashboards:explorer"),
        reverse("feedback:themes"),
        reverse("feedback:nps"),
        reverse("feedback:support"),
        reverse("feedback:experiments"),
        reverse("overlaps:portfolio"),
        reverse("insights:inbox"),
        reverse("digests:preview"),
        reverse("goals:index"),
        reverse("research:index"),
        reverse("competitors:index"),
    ]
    pages += [
        reverse("dashboards:rows", args=[t])
        for t in ("metric-points", "tickets", "nps", "theme-members", "competitor-mentions", "highlights")
    ]
    pages += [reverse("dashboards:export", args=["tickets"])]
    return pages


def test_no_query_string_gives_a_500(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    """Each bad value in every parameter at once, on every page: the parser checks each parameter on its
    own and keeps going, so one request per value covers every parameter."""
    failures = []
    for page in _pages(dashboard_data):
        for value in BAD_VALUES:
            query = "&".join(f"{name}={quote(value)}" for name in PARAMS)
            response = pm_client.get(f"{page}?{query}")
            if response.status_code >= 500:
                failures.append(f"{page} all={value[:20]!r}: {response.status_code}")
        for name in ("from", "to", "day", "open_at", "segment"):  # the ones that reach a query as a value
            response = pm_client.get(f"{page}?{name}=9999-12-31&segment=plan__isnull:x")
            if response.status_code >= 500:
                failures.append(f"{page}?{name}: {response.status_code}")
    assert failures == []


def test_bad_values_are_ignored_with_a_message(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    response = pm_client.get("/?from=9999-12-31&team=nope")
    assert response.status_code == 200
    body = response.content.decode()
    assert "is outside 1990" in body  # the date
    assert "No team “nope”" in body  # the team
    rows = pm_client.get("/rows/nps/?segment=plan__isnull:x").content.decode()
    assert "is not a segment like plan:pro" in rows


def test_the_parser_rejects_each_probe_value(rf: Any, dashboard_data: dict[str, Any]) -> None:
    params = {"page": Int(low=1), "segment": Segment(), "source": Choice(values=("nps", "ticket"))}
    for query, expected_error in [
        ("from=0001-01-01", "is outside"),
        ("to=9999-12-28", "is outside"),
        ("from=2026-02-30", "is not a real date"),
        ("from=２０２６-01-01", "is not a date like"),  # full-width digits
        ("page=²", "is not a whole number"),
        ("page=١٢", "is not a whole number"),
        ("segment=plan__isnull:x", "is not a segment"),
        ("source=mention%00", "control characters"),
        ("product=a%00b", "control characters"),
    ]:
        filters = parse_filters(rf.get(f"/?{query}"), params=params)
        assert any(expected_error in e for e in filters.errors), (query, filters.errors)
        assert filters.extra == {} and filters.product is None
    ok = parse_filters(rf.get("/?from=2026-01-05&to=2026-01-11&segment=plan:pro&page=2"), params=params)
    assert ok.errors == [] and (ok.start.isoformat(), ok.end.isoformat()) == ("2026-01-05", "2026-01-11")
    assert ok.segment == ("plan", "pro") and ok.get("page") == "2"
    assert ok.params()["from"] == "2026-01-05" and ok.params()["to"] == "2026-01-11"
    # The old names still open the same range, and a link written from it uses the one set of names.
    old = parse_filters(rf.get("/?start=2026-01-05&end=2026-01-11"))
    assert old.params() == {"from": "2026-01-05", "to": "2026-01-11"}
    assert parse_filters(rf.get("/"), default_range=ALL_TIME).all_time


def test_pages_survive_a_ticket_dated_in_year_9999(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    product = dashboard_data["product"]
    # Written straight to the table: rows stored before ingest validated dates, or by another tool.
    SupportTicket.objects.create(
        source_key="demo",
        external_id="far-future",
        product=product,
        subject="From the far future",
        opened_at=datetime(9999, 12, 28, tzinfo=UTC),
        solved_at=datetime(9999, 12, 30, tzinfo=UTC),
        tags=["billing"],
        status="solved",
    )
    SupportTicket.objects.create(
        source_key="demo",
        external_id="far-past",
        product=product,
        subject="From the year one",
        opened_at=datetime(1, 1, 2, tzinfo=UTC),
        tags=[],
        status="open",
    )
    NpsResponse.objects.create(
        source_key="demo",
        external_id="nps-future",
        product=product,
        score=3,
        comment="Future me is unhappy",
        submitted_at=datetime(9999, 12, 28, tzinfo=UTC),
    )
    for page in [
        "/support/",
        "/feedback/",
        "/nps/",
        "/",
        f"/products/{product.slug}/",
        "/rows/tickets/?range=all",
    ]:
        response = pm_client.get(page)
        assert response.status_code == 200, page
    assert "Export broken" in pm_client.get("/rows/tickets/?range=all").content.decode()


def test_pages_survive_a_metric_with_only_dimensioned_points(
    pm_client: Client, dashboard_data: dict[str, Any]
) -> None:
    product = dashboard_data["product"]
    metric = Metric.objects.create(
        source_key="demo", external_id="dims-only", product=product, name="A by-platform only", key="aaa"
    )
    now = timezone.now()
    upsert(
        MetricPoint,
        [
            {
                "metric_id": metric.pk,
                "ts": now - timedelta(days=d),
                "dimension_key": "platform",
                "dimension_value": "web",
                "value": 1.0,
            }
            for d in range(30)
        ],
    )
    rollups.refresh_all()
    for page in ["/", f"/products/{product.slug}/", f"/explore/?metric={metric.pk}&breakdown=platform"]:
        response = pm_client.get(page)
        assert response.status_code == 200, page
        assert "A by-platform only" in response.content.decode(), page


def test_pages_survive_odd_insight_payloads(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    """A row written by an older producer (missing or extra payload keys) still renders and links."""
    product = dashboard_data["product"]
    for kind, payload in [
        ("theme", {"theme_id": 999999}),
        ("theme", {}),
        ("nps_shift", {"delta": "not a number"}),
        ("experiment_verdict", {"experiment_id": None, "unknown": 1}),
        ("overlap", {"pair_id": "x"}),
        ("anomaly", {"metric_id": "x", "drivers": "oops"}),
        ("incident", {"evidence": None}),
    ]:
        Insight.objects.create(
            kind=kind, key=f"odd:{kind}:{len(payload)}", title=f"Odd {kind}", product=product, payload=payload
        )
    assert not Theme.objects.exists() and not Experiment.objects.exists()
    for page in ["/", "/insights/", "/digests/preview/"]:
        assert pm_client.get(page).status_code == 200, page
    assert Product.objects.filter(pk=product.pk).exists()


def test_digest_style_links_open_every_list_page_filtered(
    pm_client: Client, dashboard_data: dict[str, Any]
) -> None:
    """`?product=<slug>&team=<slug>&from=…&to=…` (what a digest writes) is applied by every list page."""
    query = "product=atlas&team=growth&from=2026-01-05&to=2026-02-01"
    pages = [
        "/",
        "/explore/",
        "/portfolio/",
        "/feedback/",
        "/nps/",
        "/support/",
        "/experiments/",
        "/insights/",
        "/goals/",
        "/research/",
        "/competitors/",
    ]
    pages += ["/rows/tickets/", "/rows/nps/", "/rows/competitor-mentions/", "/rows/highlights/"]
    for page in pages:
        response = pm_client.get(f"{page}?{query}")
        assert response.status_code == 200, page
        html = response.content.decode()
        filters = response.context["filters"]
        assert filters.errors == [], (page, filters.errors)
        assert filters.product == dashboard_data["product"] and filters.team == dashboard_data["team"], page
        assert (filters.start.isoformat(), filters.end.isoformat()) == ("2026-01-05", "2026-02-01"), page
        assert '<option value="atlas" selected>' in html and '<option value="growth" selected>' in html, page
        assert 'value="2026-01-05"' in html, page
