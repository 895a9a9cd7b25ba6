"""Stored XSS: hostile text in every kind of ingested row, then a crawl of the site finds it only escaped.

Payloads go into product, team, metric, ticket, NPS, portfolio, insight and connection fields; the
crawl starts at every top-level page, follows the site's own links (GET only) and checks that no
response carries a payload's raw markup.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from connectors.models import Connection
from insights.models import Insight, InsightKind
from productops.portfolio.models import PortfolioItem, Product, StatusCategory, Team
from productops.signals.ingest import upsert
from productops.signals.models import NpsResponse, SupportTicket

MARK = "xss5f2c"
PAYLOADS = [
    f'<script>alert("{MARK}")</script>',
    f'"><img src=x onerror=alert("{MARK}")>',
    f"'><svg onload=alert('{MARK}')>",
    f"</script><script>alert('{MARK}')</script>",
]
RAW = [re.compile(re.escape(p[:14]) + ".*?" + MARK, re.S) for p in PAYLOADS]
START = [
    "/",
    "/support/",
    "/feedback/",
    "/nps/",
    "/experiments/",
    "/portfolio/",
    "/insights/",
    "/connectors/",
    "/accounts/users/",
    "/explore/",
    "/digests/preview/",
]
SKIP = re.compile(
    r"^/(healthz|static|admin|accounts/logout|hooks)\b|export\.csv|/(sync|pause|resume|delete|triage)/"
)
MAX_PAGES = 90


def _text(n: int) -> str:
    return f"{PAYLOADS[n % len(PAYLOADS)]} {n}"


@pytest.fixture
def hostile(dashboard_data: dict[str, Any], lead_user: Any) -> Product:
    product = Product.objects.create(name=_text(0), slug="evil")
    team = Team.objects.create(name=_text(1), slug="evil-team")
    team.products.add(product, dashboard_data["product"])
    now = timezone.now()
    upsert(
        SupportTicket,
        [
            {
                "source_key": "demo",
                "external_id": f"x{i}",
                "product_id": pid,
                "subject": _text(i),
                "opened_at": now - timedelta(days=i % 9),
                "tags": [_text(i + 1)],
                "status": "open",
            }
            for i in range(12)
            for pid in (product.pk, dashboard_data["product"].pk)
        ],
    )
    upsert(
        NpsResponse,
        [
            {
                "source_key": "demo",
                "external_id": f"n{i}",
                "product_id": product.pk,
                "score": i % 11,
                "comment": _text(i),
                "submitted_at": now - timedelta(days=i),
                "segment": {"plan": _text(i + 2)},
            }
            for i in range(12)
        ],
    )
    for n, category in enumerate([StatusCategory.IN_PROGRESS, StatusCategory.DONE, StatusCategory.TODO]):
        PortfolioItem.objects.create(
            source_key="demo",
            external_id=f"p{n}",
            title=_text(n),
            description=_text(n + 1),
            product=product,
            team=team,
            status=_text(n + 2)[:100],
            status_category=category,
            labels=[_text(n + 3)],
            done_at=now if category == StatusCategory.DONE else None,
            url="https://tracker.example.com/" + MARK,
            tracker="jira",
        )
    metric = dashboard_data["metric"]
    metric.name = _text(3)
    metric.save(update_fields=["name"])
    for n, kind in enumerate(
        [InsightKind.ANOMALY, InsightKind.THEME, InsightKind.OVERLAP, InsightKind.NPS_SHIFT]
    ):
        Insight.objects.create(
            kind=kind,
            key=f"xss-{n}",
            title=_text(n),
            summary=_text(n + 1),
            product=product,
            team=team,
            payload={"note": _text(n + 2), "metric_id": metric.pk},
            starts_at=now - timedelta(days=2),
        )
    Connection.objects.create(
        name=_text(2), kind="zendesk", config={"subdomain": "acme", "email": "o@a.test"}, last_error=_text(1)
    )
    return product


def test_no_page_renders_a_payload_unescaped(hostile: Product, lead_client: Client) -> None:
    queue = deque([*START, f"/products/{hostile.slug}/"])
    seen: set[str] = set()
    html_pages = 0
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = lead_client.get(url)
        assert response.status_code < 500, f"{url} gave {response.status_code}"
        if "text/html" not in response.get("Content-Type", "") or response.status_code != 200:
            continue
        html_pages += 1
        html = response.content.decode()
        for pattern in RAW:
            match = pattern.search(html)
            assert match is None, f"{url} renders raw markup: {match.group(0)[:120] if match else ''}"
        for href in re.findall(r'href="(/[^"#]*)"', html):
            href = href.replace("&amp;", "&")
            if not SKIP.search(href) and href not in seen:
                queue.append(href)
    assert html_pages >= 25, f"the crawl reached only {html_pages} pages: {sorted(seen)}"
    assert (
        MARK in lead_client.get(f"/products/{hostile.slug}/").content.decode()
    )  # the text is shown, escaped
