"""Opportunities: each factor shown, matching the rows behind it; editable by the product's PMs and the
lead only; sorted and exported. Slips become insights with a target page, and resolve when they end."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.test import Client

from insights import kinds
from insights.feedback.models import EvidenceLink, LinkStatus, Theme, ThemeMember
from insights.models import Insight, InsightStatus
from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.delivery import services
from productops.delivery.models import TargetDateChange
from productops.delivery.opportunities import opportunities
from productops.digests.models import TeamMembership
from productops.goals.models import Alignment, AlignmentStatus, KeyResult, Objective
from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.models import Mention, NpsResponse, SupportTicket

WHEN = datetime(2026, 11, 10, 12, tzinfo=UTC)


def _member(theme: Theme, source: str, obj: Any, segment: dict[str, Any], sentiment: float) -> None:
    ThemeMember.objects.create(
        theme=theme,
        source=source,
        object_id=obj.pk,
        product=theme.product,
        ts=WHEN,
        sentiment=sentiment,
        quote="export fails",
        segment=segment,
    )


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    atlas = Product.objects.create(name="Atlas", slug="atlas")
    beta = Product.objects.create(name="Beta", slug="beta")
    team = Team.objects.create(name="Atlas team", slug="atlas-team")
    team.products.add(atlas)
    beta_team = Team.objects.create(name="Beta team", slug="beta-team")
    beta_team.products.add(beta)
    pm = create_user("pm-atlas", "pm-atlas@example.com", "pm-pass-123!", Role.PM)
    other = create_user("pm-beta", "pm-beta@example.com", "pm-pass-123!", Role.PM)
    lead = create_user("lead", "lead@example.com", "lead-pass-123!", Role.LEAD)
    TeamMembership.objects.create(user=pm, team=team)
    TeamMembership.objects.create(user=other, team=beta_team)

    epic = PortfolioItem.objects.create(
        source_key="manual", external_id="E1", title="Fix exports", kind="epic", team=team, product=atlas,
        status_category="in_progress",
    )  # fmt: skip
    for ext, points, size in (("S1", 3.0, ""), ("S2", None, "M"), ("S3", None, "")):
        PortfolioItem.objects.create(
            source_key="manual", external_id=ext, title=ext, kind="story", team=team, product=atlas,
            parent=epic, estimate_points=points, estimate_size=size,
        )  # fmt: skip
    theme = Theme.objects.create(product=atlas, label="export fails", recent_volume=6, previous_volume=3)
    unlinked = Theme.objects.create(product=atlas, label="dark mode", recent_volume=2, previous_volume=0)
    EvidenceLink.objects.create(theme=theme, item=epic, score=0.5, status=LinkStatus.CONFIRMED)

    def nps(ext: str, who: str, segment: dict[str, Any]) -> NpsResponse:
        return NpsResponse.objects.create(
            source_key="manual", external_id=ext, product=atlas, score=3, comment="export fails",
            segment=segment, respondent_hash=who, submitted_at=WHEN,
        )  # fmt: skip

    n1 = nps("n1", "r1", {"plan": "pro", "account": "acme", "arr": 12000})
    n2 = nps("n2", "r1", {"plan": "pro"})
    n3 = nps("n3", "r2", {"plan": "free"})
    t1, t2 = (
        SupportTicket.objects.create(source_key="manual", external_id=e, product=atlas, opened_at=WHEN)
        for e in ("t1", "t2")
    )
    m1 = Mention.objects.create(
        source_key="manual",
        external_id="m1",
        product=atlas,
        platform="reddit",
        author_hash="a1",
        posted_at=WHEN,
    )
    for obj, source, segment, s in (
        (n1, "nps", n1.segment, -0.6),
        (n2, "nps", n2.segment, -0.4),
        (n3, "nps", n3.segment, -0.2),
        (t1, "ticket", {}, -0.5),
        (t2, "ticket", {}, 0.0),
        (m1, "mention", {}, -0.3),
    ):
        _member(theme, source, obj, segment, s)
    other_nps = nps("n4", "r9", {"plan": "free"})
    _member(unlinked, "nps", other_nps, other_nps.segment, 0.5)

    objective = Objective.objects.create(
        title="Exports just work",
        product=atlas,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 12, 31),
    )
    kr = KeyResult.objects.create(objective=objective, title="Export success 99%", target_value=99)
    Alignment.objects.create(item=epic, key_result=kr, status=AlignmentStatus.CONFIRMED)
    return {"atlas": atlas, "epic": epic, "theme": theme, "unlinked": unlinked, "kr": kr, "pm": pm,
            "other": other, "lead": lead, "team": team}  # fmt: skip


def test_evidence_and_factors_are_computed_from_the_rows(world: dict[str, Any]) -> None:
    rows = {o.key: o for o in opportunities(world["atlas"])}
    epic = rows[f"item:{world['epic'].pk}"]
    ev = epic.evidence
    # acme (n1, by account), r1 (n2), r2 (n3), each ticket alone, mention author a1.
    assert (ev.feedback, ev.customers, ev.accounts, ev.respondents) == (6, 6, 1, 2)
    assert ev.plans == [("pro", 2), ("free", 1)]
    assert ev.revenue == 12000.0
    assert ev.sentiment == pytest.approx(-2.0 / 6)
    assert epic.trend == pytest.approx(1.0)  # 6 in the last 4 weeks against 3
    assert [kr.pk for kr in epic.key_results] == [world["kr"].pk]
    f = epic.factors
    assert f["reach"].value == 6
    assert f["impact"].value == 3.0  # medium, +1 for the key result, +1 for negative sentiment
    assert f["effort"].value == 6.0 and epic.effort_source == "stories"  # 3 points + M (3)
    assert f["confidence"].value == 0.8
    assert epic.score == pytest.approx(6 * 3.0 * 0.8 / 6.0)
    theme = rows[f"theme:{world['unlinked'].pk}"]
    assert theme.kind == "theme" and theme.evidence.feedback == 1
    assert f"theme:{world['theme'].pk}" not in rows  # linked themes count through their item


def _client(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _rows_count(client: Client, url: str) -> int:
    html = client.get(url.replace("&amp;", "&")).content.decode()
    if "data-total" in html:
        return int(re.search(r"<span data-total>(\d+)</span>", html).group(1))
    found = re.search(r"(\d+) rows?</p>", html)
    return int(found.group(1)) if found else 0


def _table_rows(client: Client, url: str) -> int:
    html = client.get(url.replace("&amp;", "&")).content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return body.count("<tr")


def test_every_factor_on_the_page_opens_rows_that_match_its_count(world: dict[str, Any]) -> None:
    client = _client(world["pm"])
    html = client.get("/delivery/opportunities/?product=atlas").content.decode()
    row = html.split(f'id="opp-item-{world["epic"].pk}"', 1)[1].split("</tr>", 1)[0]
    checked = 0
    for factor in ("feedback", "customers", "accounts", "respondents", "reach"):
        m = re.search(
            rf'data-factor="{factor}"[^>]*>\s*<a[^>]*href="([^"]+)"[^>]*>\s*(\d+)', row
        ) or re.search(rf'<a data-factor="{factor}" href="([^"]+)">(\d+)</a>', row)
        assert m, factor
        shown = int(m.group(2))
        assert shown == _table_rows(client, m.group(1)) or shown == _rows_count(client, m.group(1)), factor
        checked += 1
    assert checked == 5
    # Effort: the estimated stories under the epic (S1 and S2; S3 is unestimated).
    effort = re.search(r'data-factor="effort"[^>]*><a href="([^"]+)">6</a>', row)
    assert effort and _rows_count(client, effort.group(1)) == 2
    # Plan mix: "pro 2" opens the two pieces of feedback from pro accounts.
    plan = re.search(r'<a href="([^"]+)">pro 2</a>', row)
    assert plan and _rows_count(client, plan.group(1)) == 2
    # The reason of every factor is on the page.
    for reason in ("6 distinct customers", "serves 1 key result", "sum of 2 estimated stories"):
        assert reason in row
    assert "Export success 99%" in row


def test_factors_are_editable_by_the_products_pms_and_the_lead_only(world: dict[str, Any]) -> None:
    target = f"item:{world['epic'].pk}"
    data = {"target": target, "impact": "1", "effort": "3", "note": "sized by hand"}
    assert _client(world["other"]).post("/delivery/opportunities/factors/", data).status_code == 403
    assert _client(world["pm"]).post("/delivery/opportunities/factors/", data).status_code == 302
    epic = next(o for o in opportunities(world["atlas"]) if o.key == target)
    assert (epic.factors["impact"].value, epic.factors["effort"].value) == (1.0, 3.0)
    assert epic.factors["impact"].computed == 3.0 and epic.factors["impact"].edited
    assert epic.score == pytest.approx(6 * 1.0 * 0.8 / 3.0)
    html = _client(world["pm"]).get("/delivery/opportunities/?product=atlas").content.decode()
    assert "edited" in html
    lead = _client(world["lead"])
    assert lead.post("/delivery/opportunities/factors/", {"target": target, "reset": "on"}).status_code == 302
    epic = next(o for o in opportunities(world["atlas"]) if o.key == target)
    assert not epic.factors["impact"].edited
    # Another product's PM sees the page but no editor.
    assert (
        "Edit factors"
        not in _client(world["other"]).get("/delivery/opportunities/?product=atlas").content.decode()
    )
    assert Client().get("/delivery/opportunities/").status_code == 302  # anonymous: to the log-in page


def test_sort_filter_and_csv_export(world: dict[str, Any]) -> None:
    client = _client(world["pm"])
    html = client.get("/delivery/opportunities/?product=atlas&sort=title").content.decode()
    assert html.index("dark mode") < html.index("Fix exports")
    html = client.get("/delivery/opportunities/?product=atlas&kind=theme").content.decode()
    assert "dark mode" in html and "Fix exports" not in html
    response = client.get("/delivery/opportunities/?product=atlas&format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["Opportunity", "Kind", "Team"]
    epic = next(r for r in rows if r[0] == "Fix exports")
    header = rows[0]
    assert epic[header.index("Customers")] == "6" and epic[header.index("Effort (points)")] == "6.0"
    assert epic[header.index("Key results")] == "Export success 99%"


def test_a_slip_becomes_an_insight_and_resolves_when_the_target_moves_back(world: dict[str, Any]) -> None:
    epic = world["epic"]
    epic.target_date = date(2026, 12, 1)
    epic.save()
    services.record_target_history(datetime(2026, 10, 1, tzinfo=UTC))  # the baseline
    assert services.detect_delivery_insights()["delivery_slip"] == 0
    epic.target_date = date(2026, 12, 29)
    epic.save()
    counts = services.recompute_delivery(datetime(2026, 11, 1, tzinfo=UTC))
    assert counts["moves"] == 1 and counts["delivery_slip"] == 1
    insight = Insight.objects.get(kind="delivery_slip")
    payload = kinds.payload_of(insight)
    assert isinstance(payload, kinds.DeliverySlipPayload)
    assert (payload.baseline, payload.target, payload.slip_days, payload.moves) == (
        "2026-12-01",
        "2026-12-29",
        28,
        1,
    )
    assert kinds.target_url(insight) == f"/delivery/items/{epic.pk}/"
    assert set(insight.teams.values_list("pk", flat=True)) == {world["team"].pk}
    page = _client(world["pm"]).get(kinds.target_url(insight)).content.decode()
    assert "slipped +28 days" in page and "Fix exports" in page
    inbox = _client(world["pm"]).get("/insights/").content.decode()
    assert "slipped 28 days" in inbox
    # Running it again changes nothing more; moving the target back resolves the insight.
    assert services.recompute_delivery()["moves"] == 0
    assert TargetDateChange.objects.filter(item=epic).count() == 2
    epic.target_date = date(2026, 12, 1)
    epic.save()
    services.recompute_delivery()
    insight.refresh_from_db()
    assert insight.status == InsightStatus.RESOLVED


def test_the_range_narrows_the_evidence_and_its_drill_downs(world: dict[str, Any]) -> None:
    client = _client(world["pm"])
    epic = world["epic"].pk
    n1 = NpsResponse.objects.get(external_id="n1")
    ThemeMember.objects.filter(source="nps", object_id=n1.pk).update(ts=datetime(2026, 9, 1, tzinfo=UTC))
    html = client.get("/delivery/opportunities/?product=atlas&from=2026-10-01&to=2026-11-30").content.decode()
    row = html.split(f'id="opp-item-{epic}"', 1)[1].split("</tr>", 1)[0]
    feedback = re.search(r'data-factor="feedback"><a href="([^"]+)">(\d+)</a>', row)
    customers = re.search(r'data-factor="customers"><a href="([^"]+)">(\d+)</a>', row)
    assert feedback and customers
    assert int(feedback.group(2)) == 5 == _rows_count(client, feedback.group(1))
    # n1 was acme's only piece: acme drops out, r1 stays (n2).
    assert int(customers.group(2)) == 5 == _table_rows(client, customers.group(1))
    assert "from=2026-10-01" in customers.group(1).replace("&amp;", "&")
