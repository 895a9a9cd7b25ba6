from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from tests.browser.conftest import PageWatch, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pm_sees_charts_changes_a_filter_and_exports(
    page: tuple[Page, PageWatch],
    live_server: Any,
    dashboard_data: dict[str, Any],
    tmp_path: Path,
) -> None:
    p, watch = page
    create_user("pm2", "pm2@example.com", "pm2-password-123", Role.PM)
    log_in(p, live_server.url, "pm2", "pm2-password-123")

    # The overview draws its sparklines: Plotly puts an SVG inside each chart div.
    p.wait_for_selector(".spark[data-drawn='1'] svg.main-svg")
    assert p.locator(".spark svg.main-svg").count() >= 1
    assert "Sign-ups" in p.content()

    # The explorer: pick the metric, then change the granularity; the URL and the chart follow.
    metric = dashboard_data["metric"]
    p.goto(f"{live_server.url}/explore/?metric={metric.pk}&range=180d")
    p.wait_for_selector("#explorer-chart[data-drawn='1'] svg.main-svg")
    daily_points = p.evaluate("document.getElementById('explorer-chart').data[0].x.length")
    p.select_option("#granularity", "week")
    p.click(".explorer-controls button[type=submit]")
    p.wait_for_url("**granularity=week**")
    p.wait_for_selector("#explorer-chart[data-drawn='1'] svg.main-svg")
    weekly_points = p.evaluate("document.getElementById('explorer-chart').data[0].x.length")
    assert "granularity=week" in p.url
    assert 20 <= weekly_points < daily_points

    # Drill down into a table and export it as CSV.
    p.goto(f"{live_server.url}/rows/tickets/?range=30d")
    assert "41 rows" in p.content()
    with p.expect_download() as download_info:
        p.click("text=Export CSV")
    target = tmp_path / "tickets.csv"
    download_info.value.save_as(target)
    lines = target.read_text().splitlines()
    assert lines[0].startswith("Product,Ticket,Subject") and len(lines) == 42

    watch.assert_clean()


def test_pm_opens_an_anomaly_and_acknowledges_it(
    page: tuple[Page, PageWatch], live_server: Any, dashboard_data: dict[str, Any]
) -> None:
    from django.core.management import call_command

    from insights.models import Insight, InsightKind, InsightStatus
    from productops.signals.models import MetricPoint

    p, watch = page
    # Plant a spike 10 days ago in sign-ups (total and web), then run the real detector.
    metric = dashboard_data["metric"]
    spike_day = dashboard_data["end"] - timedelta(days=10)
    points = MetricPoint.objects.filter(metric=metric, ts__date=spike_day, dimension_value__in=["", "web"])
    for point in points:
        point.value *= 4
        point.save(update_fields=["value"])
    call_command("detect_anomalies", "--all")
    anomaly = Insight.objects.filter(kind=InsightKind.ANOMALY, payload__metric_id=metric.pk).first()
    assert anomaly is not None and anomaly.status == InsightStatus.NEW

    create_user("pm3", "pm3@example.com", "pm3-password-123", Role.PM)
    log_in(p, live_server.url, "pm3", "pm3-password-123")
    p.goto(f"{live_server.url}/insights/")
    p.click(f"a[href='/insights/{anomaly.pk}/']")
    p.wait_for_url(f"**/insights/{anomaly.pk}/")
    p.wait_for_selector(".chart[data-drawn='1'] svg.main-svg")
    p.select_option("select[name=action]", "acknowledge")
    p.fill("textarea[name=comment]", "Looking into the web sign-up spike")
    p.click(".triage-form button[type=submit]")
    p.wait_for_load_state()
    anomaly.refresh_from_db()
    assert anomaly.status == InsightStatus.ACKNOWLEDGED
    assert anomaly.events.filter(action="acknowledge", comment__contains="web sign-up").exists()
    watch.assert_clean()


def test_lead_adds_a_connection_syncs_it_and_sees_its_history(
    page: tuple[Page, PageWatch], live_server: Any, tmp_path: Path
) -> None:
    from connectors.models import Connection, SyncRun
    from productops.signals.models import NpsResponse

    p, watch = page
    create_user("lead2", "lead2@example.com", "lead2-password-123", Role.LEAD)
    log_in(p, live_server.url, "lead2", "lead2-password-123")

    # Gallery -> the CSV NPS source -> a form -> save.
    p.goto(f"{live_server.url}/connectors/add/")
    p.click("a[href='/connectors/add/csv_nps/']")
    p.fill("#id_name", "Survey export")
    p.select_option("#id_schedule_kind", "manual")
    p.click("button[value=save]")
    p.wait_for_url("**/connectors/*/")
    connection = Connection.objects.get(name="Survey export")

    # "Sync" for a file source is an upload; the run shows in the history with its counts.
    csv_file = tmp_path / "nps.csv"
    csv_file.write_text(
        "id,score,comment,submitted_at\n"
        "r1,9,Love the new export,2026-11-01\n"
        "r2,3,Export keeps failing,2026-11-02\n"
        "r3,7,Fine,2026-11-03\n"
    )
    p.set_input_files("input[name=file]", str(csv_file))
    p.click("text=Upload and import")
    p.wait_for_load_state()
    run = SyncRun.objects.get(connection=connection)
    assert run.status == "succeeded" and run.rows_inserted == 3
    assert NpsResponse.objects.filter(source_key=f"conn:{connection.pk}").count() == 3

    p.goto(f"{live_server.url}/connectors/{connection.pk}/")
    history = p.locator("table").first.inner_text()
    assert f"#{run.pk}" in history and "Succeeded" in history
    watch.assert_clean()


def test_pm_opens_goals_and_sees_a_key_results_projection(
    page: tuple[Page, PageWatch], live_server: Any, dashboard_data: dict[str, Any]
) -> None:
    from django.utils import timezone

    from productops.digests.models import TeamMembership
    from productops.goals import services
    from productops.goals.models import KeyResult, Objective

    p, watch = page
    pm = create_user("pm4", "pm4@example.com", "pm4-password-123", Role.PM)
    TeamMembership.objects.create(user=pm, team=dashboard_data["team"])
    today = timezone.localdate()
    objective = Objective.objects.create(
        title="Grow Atlas sign-ups",
        product=dashboard_data["product"],
        period_start=today - timedelta(days=30),
        period_end=today + timedelta(days=30),
    )
    kr = KeyResult.objects.create(
        objective=objective,
        title="Daily sign-ups at 400",
        start_value=150,
        target_value=400,
        metric=dashboard_data["metric"],
        aggregation="last",
    )
    services.refresh(kr)
    log_in(p, live_server.url, "pm4", "pm4-password-123")
    p.click("nav >> summary:has-text('Strategy')")
    p.click("nav >> text=Goals")
    p.wait_for_url("**/goals/")
    assert "Grow Atlas sign-ups" in p.content()
    p.click("text=Daily sign-ups at 400")
    p.wait_for_selector(".chart[data-drawn='1'] svg.main-svg")
    assert "At risk" in p.content()  # a flat ~150 a day never reaches 400
    # The PM of the product checks in.
    p.fill("#id_comment", "Launching the referral push next week.")
    p.click("text=Add check-in")
    p.wait_for_selector("text=Check-in saved.")
    assert "Launching the referral push next week." in p.content()
    watch.assert_clean()
