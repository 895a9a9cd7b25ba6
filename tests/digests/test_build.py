"""build_digest: scope, ranking, KPI changes, what shipped, lead-only connectors, and working links."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import override_settings
from django.urls import resolve, reverse

from productops.accounts.roles import Role
from productops.digests.build import build_digest

from .conftest import NOW, make_subscriber

WEEK = "2026-W48"
pytestmark = pytest.mark.django_db


def _follow(user: Any, products: tuple[Any, ...] = (), teams: tuple[Any, ...] = ()) -> Any:
    user.digest.products.set(products)
    user.digest.teams.set(teams)
    return user


def _build(user: Any) -> Any:
    with time_machine.travel(NOW, tick=False):
        return build_digest(user, WEEK)


def test_planted_incident_ranks_first_for_its_products_followers(world: dict[str, Any]) -> None:
    pm = _follow(make_subscriber("pm1", "UTC"), products=(world["checkout"],))
    digest = _build(pm)

    assert digest.top[0].title == world["incident"].title
    incidents = [i.title for i in digest.sections[0].items]
    assert incidents == [
        "Checkout conversion fell 25% after the new-checkout flag",  # high incident beats high anomaly
        "Checkout latency spike",  # despite a higher score and a later start
        "Order value dip",  # medium
    ]
    # Not followed, too old, or muted: left out.
    every_title = {i.title for s in digest.sections for i in s.items}
    assert not every_title & {"Mobile crash rate spike", "Last month's outage", "Muted incident"}
    assert digest.top[0].why == "Around new-checkout flag"  # the incident's change, from its typed payload
    latency = next(i for i in digest.sections[0].items if i.title == "Checkout latency spike")
    assert latency.why == "Driven by region = eu-west (82% of the change)"


def test_follower_of_another_product_does_not_get_the_incident(world: dict[str, Any]) -> None:
    pm = _follow(make_subscriber("pm2", "UTC"), products=(world["mobile"],))
    digest = _build(pm)
    assert digest.top[0].title == "Mobile crash rate spike"
    assert world["incident"].title not in {i.title for s in digest.sections for i in s.items}


def test_following_nothing_means_everything_ranked_by_severity(world: dict[str, Any]) -> None:
    digest = _build(make_subscriber("pm3", "UTC"))
    assert [i.title for i in digest.top] == [
        "Mobile crash rate spike",
        "Checkout conversion fell 25% after the new-checkout flag",
        "Checkout latency spike",
    ]


def test_team_followers_get_their_products_and_overlaps(world: dict[str, Any]) -> None:
    pm = _follow(make_subscriber("pm4", "UTC"), teams=(world["payments"],))
    digest = _build(pm)
    sections = {s.key: [i.title for i in s.items] for s in digest.sections}
    assert sections["incidents"][0] == world["incident"].title
    assert sections["overlaps"] == ["Two teams build wallet sync"]
    assert sections["themes"] == ["Rising: billing export fails"]
    theme = next(s for s in digest.sections if s.key == "themes").items[0]
    assert theme.quote == "The billing export fails every Monday."
    nps = next(s for s in digest.sections if s.key == "nps").items[0]
    assert nps.ci == "95% CI of NPS 22 to 34"
    assert sections["experiments"] == ["One-click pay wins"]


def test_both_teams_of_an_overlap_get_it(world: dict[str, Any]) -> None:
    for n, team in enumerate((world["payments"], world["apps"])):
        digest = _build(_follow(make_subscriber(f"overlap{n}", "UTC"), teams=(team,)))
        overlaps = next(s for s in digest.sections if s.key == "overlaps").items
        assert [i.title for i in overlaps] == ["Two teams build wallet sync"], team.name
        assert overlaps[0].team == "Apps, Payments" or overlaps[0].team == "Payments, Apps"


def test_kpi_changes_against_last_week_with_sparklines(world: dict[str, Any]) -> None:
    digest = _build(_follow(make_subscriber("pm5", "UTC"), teams=(world["payments"], world["apps"])))
    kpis = {k.name: k for k in digest.kpis}
    conversion, signups = kpis["Checkout conversion"], kpis["Sign-ups"]
    assert conversion.this_week == pytest.approx(0.30)
    assert conversion.change_pct == pytest.approx(-25.0)
    assert conversion.good is False
    assert signups.this_week == pytest.approx(120 * 7)
    assert signups.change_pct == pytest.approx(20.0)
    assert signups.good is True
    assert conversion.chart is not None and conversion.chart.png.startswith(b"\x89PNG")
    # The best-ranked incident or anomaly with a known metric gets its chart (the crash spike has none).
    charted = [i.title for s in digest.sections for i in s.items if i.chart]
    assert charted == ["Checkout conversion fell 25% after the new-checkout flag"]


def test_what_shipped_is_grouped_by_product_and_team(world: dict[str, Any]) -> None:
    digest = _build(make_subscriber("pm6", "UTC"))
    shipped = [(g.product, g.team, [i["title"] for i in g.items]) for g in digest.shipped]
    assert shipped == [
        ("Checkout", "Payments", ["Apple Pay at checkout", "Fix coupon rounding"]),  # the epic first
        ("Mobile", "Apps", ["Dark mode"]),
    ]


def test_connectors_are_for_the_lead_only(world: dict[str, Any]) -> None:
    lead = make_subscriber("lead1", "UTC", role=Role.LEAD)
    pm = make_subscriber("pm7", "UTC")
    assert [c.title for c in _build(lead).connectors] == ["Zendesk"]
    assert _build(pm).connectors == []


@override_settings(SITE_URL="https://productops.example.com")
def test_every_link_is_absolute_resolves_and_carries_filters(world: dict[str, Any]) -> None:
    digest = _build(make_subscriber("lead2", "UTC", role=Role.LEAD))
    urls = [i.url for s in digest.sections for i in s.items] + [k.url for k in digest.kpis]
    urls += [g.url for g in digest.shipped] + [c.url for c in digest.connectors]
    assert len(urls) > 10
    for url in urls:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == "https://productops.example.com"
        resolve(parts.path)
    # An insight links to its target object's page: the incident is its own detail page ...
    incident = next(i for i in digest.top if i.kind == "incident")
    assert urlsplit(incident.url).path == reverse("insights:detail", args=[world["incident"].pk])
    # ... and a list page opens with the digest's scope and week, in the shared filter names.
    shipped = parse_qs(urlsplit(digest.shipped[0].url).query)
    assert shipped["product"] == ["checkout"] and shipped["team"] == ["payments"]
    assert shipped["from"] == ["2026-11-16"] and shipped["to"] == ["2026-11-23"]


def test_an_empty_week_is_quiet(db: Any) -> None:
    digest = _build(make_subscriber("pm8", "UTC"))
    assert digest.is_quiet
    assert digest.top == [] and digest.shipped == []
