"""Pages on a dataset of the demo's size: bounded SQL query counts, and drill-down from every count and chart point."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from insights.feedback.models import Theme, ThemeStatus
from insights.models import Insight
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.demo import seed
from productops.signals.models import (
    Experiment,
    Metric,
)
from tests.demo_data import wipe_demo

# The most queries any page may run. Each page's own count is printed; the bound is a ceiling that a
# per-row query (N+1) on the demo data would blow through many times over.
MAX_QUERIES = 40


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock():
        wipe_demo()
        truth = seed(seed=7)
        call_command("recompute_insights")
        yield truth
        wipe_demo()


def _pages() -> list[str]:
    metric = next((m for m in Metric.objects.order_by("pk") if m.dimensions), None)
    product = Product.objects.order_by("pk").first()
    anomaly = Insight.objects.filter(kind="anomaly").order_by("-severity").first()
    assert metric and product and anomaly
    return [
        "/",
        f"/products/{product.slug}/",
        f"/explore/?metric={metric.pk}&breakdown=platform&compare=previous&range=365d",
        f"/rows/metric-points/?metric={metric.pk}&range=365d",
        "/rows/tickets/?range=365d",
        "/rows/nps/?range=365d",
        "/rows/items/",
        "/insights/",
        f"/insights/{anomaly.pk}/",
        "/portfolio/",
        "/feedback/",
        "/nps/",
        "/support/",
        "/experiments/",
        "/connectors/",
    ]


@pytest.mark.django_db
def test_every_page_runs_a_bounded_number_of_queries(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("counter", "counter@example.com", "counter-pass-123", Role.LEAD))
    counts = {}
    for path in _pages():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, path
        counts[path] = len(ctx.captured_queries)
    print("queries per page:", counts)
    too_many = {path: n for path, n in counts.items() if n > MAX_QUERIES}
    assert too_many == {}, too_many


# ---- Drill-down: every count and chart point links to the rows behind it -----------------------------

COUNT_LINK = re.compile(r'<a class="[^"]*\bcount\b[^"]*" href="([^"]+)"[^>]*>\s*([\d,]+)\b')
ROWS_HREF = re.compile(r'href="(/rows/[^"#]+)"')
ROW_TOTAL = re.compile(r"<p class=\"muted\">(\d+) rows?</p>")
SCRIPT_BLOCK = re.compile(r'<script id="[^"]+" type="application/json">(.*?)</script>', re.S)


def _drill_pages() -> list[str]:
    product = Product.objects.order_by("pk").first()
    anomaly = (
        Insight.objects.filter(kind="anomaly", payload__has_key="metric_id").order_by("-severity").first()
    )
    theme = Theme.objects.filter(status=ThemeStatus.ACTIVE).order_by("-size").first()
    experiment = Experiment.objects.exclude(status="draft").filter(results__isnull=False).first()
    assert product and anomaly and theme and experiment
    return [
        "/",
        f"/products/{product.slug}/",
        "/feedback/",
        f"/feedback/themes/{theme.pk}/",
        "/nps/",
        "/support/",
        f"/experiments/{experiment.pk}/",
        f"/insights/{anomaly.pk}/",
    ]


def _chart_urls(html: str) -> list[str]:
    urls: list[str] = []
    for block in SCRIPT_BLOCK.findall(html):
        figure = json.loads(unescape(block))
        for trace in figure.get("data", []) if isinstance(figure, dict) else []:
            urls += [u for u in trace.get("customdata", []) if isinstance(u, str) and u.startswith("/")]
    return urls


def _row_total(client: Client, url: str) -> int:
    response = client.get(unescape(url))
    assert response.status_code == 200, url
    html = response.content.decode()
    found = ROW_TOTAL.search(html)
    return int(found.group(1)) if found else 0


@pytest.mark.django_db
def test_every_count_opens_exactly_its_rows(demo: dict[str, Any]) -> None:
    """A number that links to rows is the number of rows it opens, on every page that shows counts."""
    client = Client()
    client.force_login(create_user("driller", "driller@example.com", "driller-pass-123", Role.PM))
    checked: dict[str, int] = {}
    first: dict[str, int] = {}
    # A team narrows rows without a team (tickets, NPS, feedback) to the products it works on.
    team = next(t for t in Team.objects.order_by("slug") if 0 < t.products.count() < Product.objects.count())
    scoped = [f"{p}?team={team.slug}" for p in ["/", "/feedback/", "/nps/", "/support/"]]
    scoped.append("/feedback/?source=nps")
    for path in ["/", "/feedback/", "/nps/", "/support/", *_drill_pages()[3:4], *scoped]:
        html = client.get(path).content.decode()
        links = COUNT_LINK.findall(html)
        assert links, f"{path} shows no linked counts"
        for href, shown in links[:25]:
            if "?team=" in path:
                assert "team=" in href, (path, href)
            assert href.startswith("/rows/"), href
            assert _row_total(client, href) == int(shown.replace(",", "")), (path, href, shown)
        checked[path] = len(links)
        first[path] = int(links[0][1].replace(",", ""))
    print("linked counts checked per page:", checked)
    # The team filter applies: the support page's first count (tickets in the last 4 weeks) shrinks.
    assert first[f"/support/?team={team.slug}"] < first["/support/"]


@pytest.mark.django_db
def test_chart_points_and_tables_drill_down_to_rows(demo: dict[str, Any]) -> None:
    """Every page's chart points (Plotly customdata) and row links open a rows page that has rows."""
    client = Client()
    client.force_login(create_user("pointer", "pointer@example.com", "pointer-pass-123", Role.PM))
    for path in _drill_pages():
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        points = [u for u in _chart_urls(html) if u.startswith("/rows/")]
        links = [unescape(h) for h in ROWS_HREF.findall(html)]
        assert points or links, f"{path} links to no rows"
        # Sample evenly so every chart and table is covered without following thousands of links.
        targets = sorted(set(points))[:: max(1, len(set(points)) // 12)] + sorted(set(links))[:12]
        totals = [_row_total(client, url) for url in targets]
        assert sum(totals) > 0, (path, targets)


@pytest.mark.django_db
def test_item_evidence_counts_open_their_rows(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("evidence", "evidence@example.com", "evidence-pass-123", Role.PM))
    shown = None
    for item in PortfolioItem.objects.filter(is_gone=False, kind="epic").order_by("pk"):
        response = client.get(f"/portfolio/items/{item.pk}/")
        assert response.status_code == 200
        html = response.content.decode()
        shown = re.search(r'href="\?evidence=tickets#evidence"><strong>(\d+)</strong>', html)
        if shown and int(shown.group(1)) > 0:
            break
    assert shown and int(shown.group(1)) > 0, "no demo epic has matching tickets"
    listed = client.get(f"/portfolio/items/{item.pk}/?evidence=tickets").content.decode()
    assert f"All {shown.group(1)} matching: tickets" in listed
    assert listed.count("<tr><td>tickets</td>") == int(shown.group(1))
