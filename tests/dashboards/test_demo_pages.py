"""Pages on a dataset of the demo's size: bounded SQL query counts, and drill-down from every count and chart point."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from insights import kinds
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


# ---- Link integrity: as a PM, every link reachable from the nav opens what it names -----------------

HREF = re.compile(r'<a\b[^>]*\bhref="([^"#]*)(?:#[^"]*)?"[^>]*>(.*?)</a>', re.S)
H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
TAG = re.compile(r"<[^>]+>")
# Not pages a PM reads: log-out, Django admin, machine endpoints (/healthz needs a live worker), files.
SKIP = ("/accounts/logout", "/admin", "/hooks/", "/static/", "/digests/unsubscribe/", "/healthz")
MAX_CRAWL = 160


def _text(html: str) -> str:
    return " ".join(unescape(TAG.sub(" ", html)).split())


def _selected(html: str, name: str) -> set[str]:
    """The selected option values of the filter bar's <select name=...>."""
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    return set(re.findall(r'<option value="([^"]*)" selected>', found.group(1))) if found else set()


def _check_link(client: Client, href: str, text: str, html: str) -> list[str]:
    """Where a link names an object or a filter, the page it opens shows that object or applies it."""
    problems = []
    path, _, query = href.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    heading = _text(H1.search(html).group(1)) if H1.search(html) else ""
    if re.fullmatch(r"/feedback/themes/\d+/", path) and text:
        # An insight's title quotes its theme (“name”); a theme list shows the name itself.
        quoted = re.findall(r"“(.+?)”", text)
        if not (heading in text or any(q == heading for q in quoted) or text in heading):
            problems.append(f"{href}: link “{text}” opened theme “{heading}”")
    if re.fullmatch(r"/experiments/\d+/", path) and text and heading not in text:
        problems.append(f"{href}: link “{text}” opened experiment “{heading}”")
    for name in ("product", "team"):
        has_select = re.search(rf'<select[^>]*name="{name}"', html)
        if params.get(name) and has_select and params[name] not in _selected(html, name):
            problems.append(f"{href}: the {name} filter “{params[name]}” is not applied")
    if params.get("from") and 'name="from"' in html and f'name="from" value="{params["from"]}"' not in html:
        problems.append(f"{href}: the from date {params['from']} is not applied")
    return problems


@pytest.mark.django_db
def test_every_link_from_the_nav_opens_what_it_names(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("crawler", "crawler@example.com", "crawler-pass-123", Role.PM))
    home = client.get("/").content.decode()
    nav = re.search(r'<ul class="nav-links">(.*?)</ul>\s*<div class="nav-user">', home, re.S)
    assert nav
    queue = [(href, _text(text)) for href, text in HREF.findall(nav.group(1))]
    seen: dict[str, int] = {}
    problems: list[str] = []
    depth = {href: 0 for href, _ in queue}
    while queue and len(seen) < MAX_CRAWL:
        href, text = queue.pop(0)
        href = unescape(href)
        if href in seen or not href.startswith("/") or href.startswith(SKIP) or "export.csv" in href:
            continue
        response = client.get(href)
        seen[href] = response.status_code
        if response.status_code != 200:
            problems.append(f"{href}: {response.status_code}")
            continue
        if "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        problems += _check_link(client, href, text, html)
        if depth[href] >= 2:
            continue
        for link, label in HREF.findall(html):
            link = unescape(link)
            if link.startswith("?"):
                link = href.partition("?")[0] + link
            if link.startswith("/") and link not in depth:
                depth[link] = depth[href] + 1
                # Pages of one kind (rows of each table, each item) need not all be crawled twice over.
                queue.append((link, _text(label)))
    print(f"crawled {len(seen)} pages")
    assert len(seen) >= 60
    assert problems == []


@pytest.mark.django_db
def test_a_rendered_digests_links_open_what_they_name(demo: dict[str, Any]) -> None:
    from django.conf import settings

    from productops.digests.build import build_digest

    user = create_user("digester", "digester@example.com", "digester-pass-123", Role.LEAD)
    client = Client()
    client.force_login(user)
    digest = build_digest(user)
    items = [i for s in digest.sections for i in s.items] + list(digest.connectors)
    links = [(i.url, i.title) for i in items] + [(k.url, k.name) for k in digest.kpis]
    links += [(g.url, "") for g in digest.shipped]
    assert len(links) >= 5
    problems = []
    for url, title in links:
        assert url.startswith(settings.SITE_URL), url
        href = url[len(settings.SITE_URL) :]
        response = client.get(href)
        if response.status_code != 200:
            problems.append(f"{href}: {response.status_code}")
            continue
        problems += _check_link(client, href, title, response.content.decode())
    assert problems == []


@pytest.mark.django_db
def test_theme_and_verdict_links_on_the_overview_open_their_targets(demo: dict[str, Any]) -> None:
    """The overview's "Rising themes" and "Verdicts" links are built from the theme and the experiment."""
    client = Client()
    client.force_login(create_user("overview", "overview@example.com", "overview-pass-123", Role.PM))
    html = client.get("/?range=all").content.decode()
    themes = [(h, _text(t)) for h, t in HREF.findall(html) if re.fullmatch(r"/feedback/themes/\d+/", h)]
    assert themes, "the overview lists no rising themes"
    for href, text in themes:
        page = client.get(href).content.decode()
        heading = _text(H1.search(page).group(1))
        assert f"“{heading}”" in text, (href, text, heading)
    for insight in Insight.objects.filter(kind="theme"):
        assert f"/feedback/themes/{insight.payload['theme_id']}/" == kinds.target_url(insight)
    for insight in Insight.objects.filter(kind="experiment_verdict"):
        experiment = Experiment.objects.get(pk=insight.payload["experiment_id"])
        assert insight.title.startswith(experiment.name)
        assert kinds.target_url(insight) == f"/experiments/{experiment.pk}/"


@pytest.mark.django_db
def test_both_teams_of_an_overlap_see_it(demo: dict[str, Any]) -> None:
    from insights.overlaps.models import OverlapPair

    client = Client()
    client.force_login(create_user("teams", "teams@example.com", "teams-pass-123", Role.PM))
    pairs = [
        p for p in OverlapPair.objects.filter(active=True).select_related("team_a", "team_b") if p.team_b
    ]
    cross = [p for p in pairs if p.team_a_id != p.team_b_id]
    assert cross, "the demo has no cross-team overlap"
    for pair in cross:
        insight = Insight.objects.get(kind="overlap", key=f"overlap:{pair.key}")
        assert {pair.team_a_id, pair.team_b_id} <= set(insight.teams.values_list("pk", flat=True))
        for team in (pair.team_a, pair.team_b):
            shown = client.get(f"/?team={team.slug}&range=all").content.decode()
            overlaps = re.search(r"<h2[^>]*>[^<]*overlaps[^<]*</h2>(.*?)</section>", shown, re.S | re.I)
            assert overlaps, team.slug
            open_for_team = Insight.objects.filter(
                kind="overlap", teams=team, status__in=["new", "acknowledged"]
            )
            listed = overlaps.group(1).count('<a href="/portfolio/?')
            assert listed == min(5, open_for_team.count()) and listed > 0, (team.slug, listed)
        # The overlap's link opens the portfolio on exactly that pair.
        target = kinds.target_url(insight)
        page = client.get(target).content.decode()
        assert re.search(r"Overlaps.*?\(1\)", page, re.S), target


@pytest.mark.django_db
def test_the_team_filter_narrows_every_card(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("narrow", "narrow@example.com", "narrow-pass-123", Role.PM))
    team = next(t for t in Team.objects.order_by("slug") if 0 < t.products.count() < Product.objects.count())
    team_products = set(team.products.values_list("name", flat=True))
    html = client.get(f"/?team={team.slug}&range=all").content.decode()
    everything = client.get("/?range=all").content.decode()
    # Every insight on the team's overview (incidents and anomalies included) concerns the team.
    titles = {
        _text(t) for h, t in HREF.findall(html) if h.startswith(("/insights/", "/feedback/", "/experiments/"))
    }
    concerning = set(Insight.objects.filter(teams=team).values_list("title", flat=True))
    shown_insights = {t for t in titles if Insight.objects.filter(title=t).exists()}
    assert shown_insights and shown_insights <= concerning, shown_insights - concerning
    # KPI tiles: only the team's products, fewer than on the unfiltered overview.
    tiles = set(re.findall(r'<h2 id="p-[^"]+"><a [^>]*>(.*?)</a></h2>', html))
    all_tiles = set(re.findall(r'<h2 id="p-[^"]+"><a [^>]*>(.*?)</a></h2>', everything))
    assert tiles and tiles <= team_products and tiles < all_tiles, (tiles, team_products)


@pytest.mark.django_db
def test_a_weekly_chart_point_opens_exactly_that_weeks_rows(demo: dict[str, Any]) -> None:
    client = Client()
    client.force_login(create_user("weekly", "weekly@example.com", "weekly-pass-123", Role.PM))
    theme = Theme.objects.filter(status=ThemeStatus.ACTIVE).order_by("-size").first()
    assert theme
    checked = 0
    for path in ["/feedback/", f"/feedback/themes/{theme.pk}/", "/feedback/?range=90d"]:
        html = client.get(path).content.decode()
        for block in SCRIPT_BLOCK.findall(html):
            figure = json.loads(unescape(block))
            for trace in figure.get("data", []) if isinstance(figure, dict) else []:
                urls, ys, xs = trace.get("customdata") or [], trace.get("y") or [], trace.get("x") or []
                if not urls or not str(urls[0]).startswith("/rows/theme-members/"):
                    continue
                for url, y, x in list(zip(urls, ys, xs, strict=False))[-6:]:
                    params = {k: v[0] for k, v in parse_qs(url.partition("?")[2]).items()}
                    start, end = date.fromisoformat(params["from"]), date.fromisoformat(params["to"])
                    assert start.weekday() == 0 and (end - start).days == 6, url
                    assert str(x).startswith(start.isoformat()), (x, url)
                    assert _row_total(client, url) == int(y), (path, url, y)
                    checked += 1
    assert checked >= 6
