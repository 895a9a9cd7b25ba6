from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.test import Client

from productops.dashboards import rollups
from productops.dashboards.models import MetricDaily, TicketDaily
from productops.portfolio.models import Product
from productops.signals.models import Metric, MetricPoint


def test_rollups_match_raw_rows(dashboard_data: dict[str, Any]) -> None:
    metric = dashboard_data["metric"]
    assert (
        MetricDaily.objects.filter(metric=metric).count() == MetricPoint.objects.filter(metric=metric).count()
    )
    total = MetricDaily.objects.get(metric=metric, dimension_key="", day=dashboard_data["end"])
    parts = MetricDaily.objects.filter(metric=metric, dimension_key="platform", day=dashboard_data["end"])
    assert total.value == sum(p.value for p in parts)
    assert TicketDaily.objects.filter(tag="").aggregate(n=Sum("opened"))["n"] == 41
    assert sum(TicketDaily.objects.filter(tag="billing").values_list("opened", flat=True)) == 20


def test_rollup_refresh_is_idempotent_and_scoped(dashboard_data: dict[str, Any]) -> None:
    before = MetricDaily.objects.count()
    rollups.refresh_metrics([dashboard_data["metric"].pk], since=dashboard_data["end"] - timedelta(days=3))
    assert MetricDaily.objects.count() == before


def test_overview_shows_kpis_with_changes(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    html = pm_client.get("/").content.decode()
    assert "Atlas" in html and "Sign-ups" in html
    assert 'data-chart="spark-' in html
    assert "wk</small>" in html and "yr</small>" in html


def test_overview_queries_do_not_grow_with_data(
    pm_client: Client, dashboard_data: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(25):
        assert pm_client.get("/").status_code == 200
    # More products and metrics: still the same bound.
    for n in range(5):
        p = Product.objects.create(name=f"P{n}", slug=f"p{n}")
        for k in range(3):
            Metric.objects.create(
                source_key="demo", external_id=f"{n}-{k}", product=p, name=f"M{k}", key=f"m{k}"
            )
    with django_assert_max_num_queries(25):
        assert pm_client.get("/").status_code == 200


def test_product_page(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    response = pm_client.get("/products/atlas/")
    assert response.status_code == 200
    assert "Growth" in response.content.decode()
    assert pm_client.get("/products/nope/").status_code == 404


def test_explorer_state_lives_in_the_url(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    metric = dashboard_data["metric"]
    url = f"/explore/?metric={metric.pk}&granularity=week&breakdown=platform&compare=previous&range=180d"
    html = pm_client.get(url).content.decode()
    assert "Sign-ups · platform=web" in html and "(previous period)" in html
    assert 'value="week" selected' in html
    # Drill-down links carry the filters and the series.
    assert "/rows/metric-points/?" in html and "dimension_value=web" in html


def test_explorer_empty_states(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    assert "Pick one or more metrics" in pm_client.get("/explore/").content.decode()
    assert "not a date" in pm_client.get("/explore/?start=garbage").content.decode()


def test_drill_down_rows_and_sorting(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    metric = dashboard_data["metric"]
    day = dashboard_data["end"].isoformat()
    html = pm_client.get(
        f"/rows/metric-points/?metric={metric.pk}&dimension_key=platform&day={day}&sort=value"
    ).content.decode()
    assert "2 rows" in html
    html = pm_client.get("/rows/tickets/?tag=billing&range=30d").content.decode()
    assert "20 rows" in html
    assert pm_client.get("/rows/nope/").status_code == 404


def test_csv_export_streams_and_escapes_formulas(pm_client: Client, dashboard_data: dict[str, Any]) -> None:
    response = pm_client.get("/rows/tickets/export.csv?range=30d")
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["Product", "Ticket", "Subject"]
    assert len(rows) == 42
    evil = next(r for r in rows if r[1] == "evil")
    assert evil[2].startswith("'=HYPERLINK")


def test_overview_lists_only_insights_in_the_date_range(
    pm_client: Client, dashboard_data: dict[str, Any]
) -> None:
    from django.utils import timezone

    from insights.models import Insight

    now = timezone.now()
    Insight.objects.create(
        kind="anomaly",
        key="old",
        title="Old dip from last year",
        severity=4,
        starts_at=now - timedelta(days=400),
        ends_at=now - timedelta(days=398),
    )
    Insight.objects.create(
        kind="anomaly",
        key="new",
        title="Fresh spike this week",
        severity=2,
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=2),
    )
    html = pm_client.get("/").content.decode()
    assert "Fresh spike this week" in html and "Old dip from last year" not in html
    assert "Old dip from last year" in pm_client.get("/?range=365d&start=2025-01-01").content.decode()


def test_cached_overview_is_never_stale(
    pm_client: Client, pm_user: Any, dashboard_data: dict[str, Any]
) -> None:
    from django.utils import timezone

    from insights.models import Insight
    from insights.services import transition
    from productops.signals.ingest import upsert
    from productops.signals.models import MetricPoint

    now = timezone.now()
    insight = Insight.objects.create(
        kind="anomaly", key="k", title="Checkout errors spiked", severity=3, starts_at=now, ends_at=now
    )
    assert "Checkout errors spiked" in pm_client.get("/").content.decode()
    assert "Checkout errors spiked" in pm_client.get("/").content.decode()  # served from the cache
    transition(insight, "resolve", pm_user, "fixed")
    assert "Checkout errors spiked" not in pm_client.get("/").content.decode()

    # New data reaches the page after the post-sync recompute bumps the version.
    from insights.recompute import RecomputeScope, run
    from productops.core.versions import bump

    metric = dashboard_data["metric"]
    day = MetricPoint.objects.filter(metric=metric, dimension_key="").latest("ts").ts
    upsert(
        MetricPoint,
        [{"metric_id": metric.pk, "ts": day, "dimension_key": "", "dimension_value": "", "value": 98765.0}],
    )
    run(RecomputeScope(families={"metrics"}, metric_ids={metric.pk}))
    bump()
    assert "98.8k" in pm_client.get("/").content.decode()
