"""Only http(s), mailto and relative URLs from ingested data become links, on pages and in the digest."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from productops.core.templatetags.safe_links import safe_url
from productops.digests.build import build_digest, period_for
from productops.digests.emails import digest_message
from productops.portfolio.models import PortfolioItem, Product, StatusCategory, Team

HOSTILE = [
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "jav&#x09;ascript:alert(1)",  # no valid scheme, and a colon before any slash: not a relative path
]
GOOD = [
    "https://acme.atlassian.net/browse/ALPHA-1",
    "http://jira.internal/browse/X-1",
    "HTTPS://github.com/acme/app/issues/1",
    "mailto:ops@example.com",
    "/rows/tickets/?range=30d",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_schemes_are_dropped(url: str) -> None:
    assert safe_url(url) == ""


@pytest.mark.parametrize("url", GOOD)
def test_http_mailto_and_relative_links_are_kept(url: str) -> None:
    assert safe_url(url) == url


def test_none_and_blank() -> None:
    assert safe_url(None) == "" and safe_url("  ") == ""


@pytest.fixture
def items(db: Any) -> dict[str, PortfolioItem]:
    product = Product.objects.create(name="Atlas", slug="atlas")
    team = Team.objects.create(name="Growth", slug="growth")
    team.products.add(product)
    out = {}
    now = timezone.now()
    for n, url in enumerate([*HOSTILE[:9], GOOD[0]]):
        for category in (StatusCategory.IN_PROGRESS, StatusCategory.DONE):
            out[f"{category}-{n}"] = PortfolioItem.objects.create(
                source_key="demo",
                external_id=f"{category}-{n}",
                title=f"Item {category} {n}",
                product=product,
                team=team,
                status_category=category,
                done_at=now - timedelta(days=1) if category == StatusCategory.DONE else None,
                url=url,
                tracker="jira",
            )
    return out


def _assert_no_hostile_link(html: str) -> None:
    hrefs = re.findall(r"""href\s*=\s*["']([^"']*)["']""", html, re.I)
    for href in hrefs:
        squeezed = re.sub(r"[\x00-\x20]", "", href).lower()
        assert not squeezed.startswith(("javascript:", "data:", "vbscript:", "file:")), href


def test_pages_link_only_safe_urls(items: dict[str, PortfolioItem], pm_client: Client) -> None:
    product_page = pm_client.get("/products/atlas/").content.decode()
    _assert_no_hostile_link(product_page)
    assert 'href="https://acme.atlassian.net/browse/ALPHA-1"' in product_page
    assert "Item in_progress 0" in product_page  # the title stays, without a link
    for key, item in items.items():
        html = pm_client.get(f"/portfolio/items/{item.pk}/").content.decode()
        _assert_no_hostile_link(html)
        if item.url == GOOD[0]:
            assert 'href="https://acme.atlassian.net/browse/ALPHA-1"' in html, key


def test_the_digest_links_only_safe_urls(items: dict[str, PortfolioItem], lead_user: Any) -> None:
    digest = build_digest(lead_user, with_charts=False)
    start, end = period_for(lead_user, digest.week)
    PortfolioItem.objects.filter(status_category=StatusCategory.DONE).update(done_at=end - timedelta(hours=1))
    assert start < end - timedelta(hours=1)
    message = digest_message(build_digest(lead_user, with_charts=False), lead_user)
    html = message.alternatives[0][0]
    assert "Item done 0" in html, "the shipped items should be in the digest"
    _assert_no_hostile_link(html)
    assert "https://acme.atlassian.net/browse/ALPHA-1" in html
    assert not re.search(r"(javascript|vbscript|data):", message.body, re.I)
