"""Delivery metrics against a hand-computed fixture, then the same items stored and read back, with each
delivery count equal to the rows its drill-down opens."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse

from productops.delivery import metrics
from productops.delivery.models import TargetDateChange
from productops.delivery.selectors import ROADMAP_KINDS, items_frame
from productops.portfolio.models import PortfolioItem, Product, Team


def t(day: str, hour: int = 0) -> datetime:
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, hour, tzinfo=UTC)


# id, team, kind, status, started, done_at, created, updated, points, target, baseline
ITEMS: list[tuple[Any, ...]] = [
    (1, 1, "story", "done", t("2026-11-02"), t("2026-11-05"), None, None, 3.0, None, None),  # 3 days
    (2, 1, "story", "done", t("2026-11-01"), t("2026-11-06"), None, None, 5.0, None, None),  # 5 days
    (3, 1, "story", "done", t("2026-11-03"), t("2026-11-12"), None, None, None, None, None),  # 9 days
    (4, 1, "story", "done", None, t("2026-11-10"), None, None, None, None, None),  # no start: no cycle
    (5, 1, "story", "in_progress", t("2026-10-01"), None, None, t("2026-10-20"), None, None, None),
    (6, 1, "story", "in_progress", t("2026-11-01"), None, None, t("2026-11-20", 12), 2.0, None, None),
    (7, 1, "story", "todo", None, None, t("2026-10-21", 12), None, 3.0, None, None),  # 30 days old
    (8, 1, "story", "todo", None, None, t("2026-11-10", 12), None, None, None, None),  # 10 days
    (9, 1, "story", "todo", None, None, t("2026-09-21", 12), None, None, None, None),  # 60 days
    (10, 1, "epic", "in_progress", None, None, None, None, None, date(2026, 12, 15), date(2026, 12, 1)),
    (11, 1, "epic", "in_progress", None, None, None, None, None, date(2026, 11, 20), date(2026, 11, 25)),
    (12, 2, "story", "done", t("2026-11-16"), t("2026-11-17"), None, None, 1.0, None, None),  # 1 day
]
NOW = t("2026-12-01")


def fixture_frame() -> pd.DataFrame:
    return metrics.normalise(pd.DataFrame(ITEMS, columns=metrics.COLUMNS))


def test_as_of_is_the_newest_activity() -> None:
    assert metrics.as_of(fixture_frame(), NOW) == pd.Timestamp("2026-11-20 12:00", tz="UTC")


def test_weekly_flow_matches_the_hand_computed_weeks() -> None:
    flow = metrics.weekly_flow(fixture_frame(), date(2026, 11, 2), date(2026, 11, 20))
    got = {
        (r.team_id, r.week.isoformat()): (
            r.throughput,
            None if pd.isna(r.cycle_median) else r.cycle_median,
            r.cycle_n,
        )
        for r in flow.itertuples()
    }
    assert got == {
        (1, "2026-11-02"): (2, 4.0, 2),  # items 1 and 2: 3 and 5 days
        (1, "2026-11-09"): (2, 9.0, 1),  # items 3 and 4; 4 has no start
        (1, "2026-11-16"): (0, None, 0),
        (2, "2026-11-02"): (0, None, 0),
        (2, "2026-11-09"): (0, None, 0),
        (2, "2026-11-16"): (1, 1.0, 1),
    }


def test_wip_stale_slips_and_backlog() -> None:
    frame = fixture_frame()
    at = metrics.as_of(frame, NOW)
    assert metrics.wip(frame) == {1: 4}  # stories 5, 6 and epics 10, 11
    assert metrics.stale_cutoff(at) == date(2026, 11, 6)
    stale = metrics.stale(frame, at)
    assert stale["id"].tolist() == [5]
    assert stale["idle_days"].tolist() == [31.5]  # 20 Oct 00:00 to 20 Nov 12:00
    slips = metrics.slipped(frame)
    assert list(zip(slips["id"], slips["slip_days"], strict=True)) == [(10, 14)]  # 11 moved earlier
    backlog = metrics.backlog(frame, at)
    assert set(backlog) == {1}
    b = backlog[1]
    assert (b.count, b.median_age_days, b.oldest_age_days, b.unestimated) == (3, 30.0, 60.0, 2)
    assert b.unestimated_share == pytest.approx(2 / 3)


def _jump_frame(recent_days: float) -> pd.DataFrame:
    rows = []
    at = t("2026-11-30")
    for n in range(8):  # the twelve weeks before the last four: 2-day items
        done = t("2026-09-10") + pd.Timedelta(days=7 * n)
        rows.append((n, 1, "story", "done", done - pd.Timedelta(days=2), done, None, None, 1.0, None, None))
    for n in range(5):  # the last four weeks
        done = at - pd.Timedelta(days=3 + 4 * n)
        rows.append(
            (
                100 + n,
                1,
                "story",
                "done",
                done - pd.Timedelta(days=recent_days),
                done,
                None,
                None,
                1.0,
                None,
                None,
            )
        )
    return metrics.normalise(pd.DataFrame(rows, columns=metrics.COLUMNS))


def test_cycle_time_jump_found_on_a_planted_rise_and_not_on_a_steady_team() -> None:
    at = pd.Timestamp("2026-11-30", tz="UTC")
    jumps = metrics.cycle_time_jumps(_jump_frame(6.0), at)
    assert len(jumps) == 1
    assert (jumps[0].team_id, jumps[0].recent_median, jumps[0].base_median) == (1, 6.0, 2.0)
    assert (jumps[0].recent_n, jumps[0].base_n) == (5, 8)
    assert metrics.cycle_time_jumps(_jump_frame(2.5), at) == []


@pytest.fixture
def stored(db: Any) -> dict[str, Any]:
    """The fixture's items stored, with the target history of the two epics."""
    product = Product.objects.create(name="Atlas", slug="atlas")
    teams = {n: Team.objects.create(name=f"Team {n}", slug=f"team-{n}") for n in (1, 2)}
    for team in teams.values():
        team.products.add(product)
    pks = {}
    for iid, team, kind, status, started, done, created, updated, points, target, baseline in ITEMS:
        item = PortfolioItem.objects.create(
            source_key="manual",
            external_id=f"I-{iid}",
            title=f"Item {iid}",
            kind=kind,
            status_category=status,
            team=teams[team],
            product=product,
            started_at=started,
            done_at=done,
            created_at_source=created,
            updated_at_source=updated,
            estimate_points=points,
            target_date=target,
        )
        pks[iid] = item.pk
        if baseline:
            TargetDateChange.objects.create(item=item, to_date=baseline, changed_at=t("2026-10-01"))
            TargetDateChange.objects.create(
                item=item, from_date=baseline, to_date=target, changed_at=t("2026-11-01")
            )
    return {"product": product, "teams": teams, "pks": pks}


def test_the_selector_reads_back_the_same_metrics(stored: dict[str, Any]) -> None:
    frame = items_frame(None, kinds=None)
    assert len(frame) == len(ITEMS)
    flow = metrics.weekly_flow(frame, date(2026, 11, 2), date(2026, 11, 20))
    team1 = stored["teams"][1].pk
    row = flow[(flow["team_id"] == team1) & (flow["week"] == date(2026, 11, 2))].iloc[0]
    assert (row["throughput"], row["cycle_median"]) == (2, 4.0)
    slips = metrics.slipped(items_frame(None, kinds=ROADMAP_KINDS))
    assert slips["id"].tolist() == [stored["pks"][10]]
    assert slips["slip_days"].tolist() == [14]


def _count(client: Client, url: str) -> int:
    html = client.get(url.replace("&amp;", "&")).content.decode()
    found = re.search(r"(\d+) rows?</p>", html)
    return int(found.group(1)) if found else 0


def test_health_page_counts_equal_the_rows_they_open(stored: dict[str, Any], pm_client: Client) -> None:
    html = pm_client.get("/delivery/health/?team=team-1&range=all").content.decode()
    assert "Team 1" in html
    for name, expected in (("wip", 2), ("stale", 1), ("backlog", 3), ("unestimated", 2)):
        m = re.search(rf'<a href="([^"]+)" data-count="{name}"[^>]*>(\d+)</a>', html)
        assert m, name
        assert int(m.group(2)) == expected, name
        assert _count(pm_client, m.group(1)) == expected, name
    # A week's bar opens exactly that week's done stories.
    week = (
        reverse("dashboards:rows", args=["items"]) + "?team=team-1&range=all&kind=story&done_week=2026-11-02"
    )
    assert "done_week=2026-11-02" in html  # in the chart's customdata (JSON-escaped)
    assert _count(pm_client, week) == 2
    assert "+14 days" in html  # the slipped epic


def test_roadmap_highlights_the_slip_and_exports(stored: dict[str, Any], pm_client: Client) -> None:
    html = pm_client.get("/delivery/roadmap/?team=team-1").content.decode()
    assert "2026 Q4" in html
    assert html.count('class="slipped"') == 1
    assert "slipped +14 days" in html
    csv_text = pm_client.get("/delivery/roadmap/?team=team-1&format=csv").content.decode()
    assert "Slip (days)" in csv_text.splitlines()[0]
    assert any(line.startswith("2026 Q4,epic,Item 10") and ",14," in line for line in csv_text.splitlines())


def test_history_records_moves_a_cleared_target_and_nothing_twice(stored: dict[str, Any]) -> None:
    from productops.delivery import services

    item = PortfolioItem.objects.get(pk=stored["pks"][11])  # baseline 25 Nov, now 20 Nov
    assert services.record_target_history(t("2026-11-25")) == {"baselines": 0, "moves": 0}
    item.target_date = None
    item.save()
    assert services.record_target_history(t("2026-11-26")) == {"baselines": 0, "moves": 1}
    item.target_date = date(2026, 12, 24)
    item.save()
    services.record_target_history(t("2026-11-27"))
    assert services.record_target_history(t("2026-11-28")) == {"baselines": 0, "moves": 0}
    history = list(TargetDateChange.objects.filter(item=item).values_list("from_date", "to_date"))
    assert history == [
        (None, date(2026, 11, 25)),
        (date(2026, 11, 25), date(2026, 11, 20)),
        (date(2026, 11, 20), None),
        (None, date(2026, 12, 24)),
    ]
    # The baseline stays the first target: the item slipped 29 days.
    slips = metrics.slipped(items_frame(None, kinds=ROADMAP_KINDS))
    assert dict(zip(slips["id"], slips["slip_days"], strict=True))[item.pk] == 29
