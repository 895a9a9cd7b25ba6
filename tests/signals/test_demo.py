"""The demo dataset: deterministic, idempotent, and the planted events are really in the data."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from scipy import stats as sps

from productops.portfolio.models import Dependency, PortfolioItem, Product, Team
from productops.signals.demo import seed_with_stats, world
from productops.signals.demo.metrics import PLANTS, generate_metric
from productops.signals.models import (
    Experiment,
    ExperimentResult,
    FlagChange,
    Metric,
    MetricPoint,
    NpsResponse,
    SupportTicket,
)
from tests.demo_data import wipe_demo


@pytest.fixture(scope="module")
def seeded(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """Seed twice into the test database (the second run must be a no-op), shared by this module.

    Another module's fixture may already have seeded the same data; then it is left in place.
    """
    with django_db_blocker.unblock():
        already_there = Product.objects.filter(slug="ledger").exists()
        first_truth, first_stats = seed_with_stats(seed=7)
        # The second run goes through the command, as `make run` does it.
        out = io.StringIO()
        path = tmp_path_factory.mktemp("demo") / "truth.json"
        call_command("seed_demo", "--seed", "7", "--ground-truth", str(path), stdout=out)
        second_truth = json.loads(path.read_text())
        yield {
            "truth": first_truth,
            "stats": first_stats,
            "truth2": second_truth,
            "output": out.getvalue(),
            "fresh": not already_there,
        }
        if not already_there:
            wipe_demo()


def _series(product: str, metric: str, key: str = "", value: str = "") -> pd.Series:
    rows = MetricPoint.objects.filter(
        metric__product__slug=product, metric__key=metric, dimension_key=key, dimension_value=value
    ).values_list("ts", "value")
    s = pd.Series({ts.date(): v for ts, v in rows}).sort_index()
    assert len(s) == world.N_DAYS, f"{product}/{metric}/{key}={value} has {len(s)} points"
    return s


def _window_ratio(s: pd.Series, start: str, end: str) -> float:
    """Mean over the window relative to the same weekdays in the four weeks before it."""
    a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    window = s[(s.index >= a) & (s.index <= b)]
    before = [s[d - dt.timedelta(weeks=w)] for d in window.index for w in range(1, 5)]
    return float(window.mean() / np.mean(before))


@pytest.mark.django_db
def test_second_run_changes_nothing_and_ground_truth_is_stable(seeded: dict[str, Any]) -> None:
    assert seeded["truth"] == seeded["truth2"]
    if seeded["fresh"]:
        assert (
            seeded["stats"]["metric_points"].inserted == seeded["truth"]["counts"]["metric_points"] > 50_000
        )
    reported = dict(
        re.findall(r"^\s+(\w+)\s+(inserted=\d+ updated=\d+ unchanged=\d+)$", seeded["output"], re.M)
    )
    assert set(reported) == set(seeded["truth"]["counts"])
    for table, total in seeded["truth"]["counts"].items():
        assert reported[table] == f"inserted=0 updated=0 unchanged={total}", (
            f"{table} changed on the second run"
        )
    assert MetricPoint.objects.count() == seeded["truth"]["counts"]["metric_points"]


def test_generation_is_deterministic_per_seed() -> None:
    spec = world.PRODUCTS[0]
    countries, shares = world.countries_for_scale(1)
    a = generate_metric(spec, "signups", countries, shares, world.rng(7, "metrics", 0))
    b = generate_metric(spec, "signups", countries, shares, world.rng(7, "metrics", 0))
    c = generate_metric(spec, "signups", countries, shares, world.rng(8, "metrics", 0))
    assert np.array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)


@pytest.mark.django_db
def test_ground_truth_shape(seeded: dict[str, Any]) -> None:
    truth = seeded["truth"]
    assert truth["end_date"] == "2026-11-22" and truth["start_date"] == "2025-05-24"
    assert Product.objects.filter(slug__in=["ledger", "pulse", "canvas"]).count() == 3
    assert Team.objects.filter(slug__in=world.TEAMS).count() == 6
    warmup_end = world.day(world.WARMUP_DAYS).isoformat()
    kinds = {a["kind"] for a in truth["anomalies"]}
    assert kinds == {"spike", "dip", "level_shift", "drift"}
    for a in truth["anomalies"]:
        assert a["start"] >= warmup_end
        assert set(a) >= {
            "product",
            "metric",
            "dimension_key",
            "dimension_value",
            "start",
            "end",
            "kind",
            "driver",
        }
    clean = {
        (c["product"], c["metric"], c["dimension_key"], c["dimension_value"]) for c in truth["clean_series"]
    }
    flagged = {
        (a["product"], a["metric"], a["dimension_key"], a["dimension_value"]) for a in truth["anomalies"]
    }
    assert len(clean) >= 60 and not clean & flagged
    # Every planted event is listed at least on its driver series (or the total when undriven).
    for plant in PLANTS:
        key, value = plant.driver or ("", "")
        assert (plant.product, plant.metric, key, value) in flagged, plant


@pytest.mark.django_db
def test_android_driven_dip_shows_in_total_and_android_only(seeded: dict[str, Any]) -> None:
    dip = next(
        a
        for a in seeded["truth"]["anomalies"]
        if a["driver"] == {"key": "platform", "value": "android"} and a["dimension_key"] == ""
    )
    assert (dip["product"], dip["metric"], dip["kind"]) == ("ledger", "signups", "dip")
    assert _window_ratio(_series("ledger", "signups"), dip["start"], dip["end"]) < 0.85
    assert _window_ratio(_series("ledger", "signups", "platform", "android"), dip["start"], dip["end"]) < 0.3
    assert _window_ratio(_series("ledger", "signups", "platform", "web"), dip["start"], dip["end"]) > 0.85


@pytest.mark.django_db
def test_breakdowns_add_up_and_ratios_stay_in_range(seeded: dict[str, Any]) -> None:
    for key in ("signups", "revenue", "daily_active_users"):
        df = pd.DataFrame(
            MetricPoint.objects.filter(metric__product__slug="pulse", metric__key=key).values(
                "ts", "dimension_key", "value"
            )
        )
        sums = df.pivot_table(index="ts", columns="dimension_key", values="value", aggfunc="sum")
        assert np.allclose(sums["platform"], sums[""], rtol=1e-9, atol=0.05)
        assert np.allclose(sums["country"], sums[""], rtol=1e-9, atol=0.05)
    ratios = MetricPoint.objects.filter(metric__key="conversion_rate").values_list("value", flat=True)
    assert all(0 <= v <= 1 for v in ratios)
    metric = Metric.objects.get(product__slug="ledger", key="conversion_rate")
    assert (metric.unit, metric.aggregation, metric.good_direction) == ("ratio", "mean", "up")


@pytest.mark.django_db
def test_clean_series_have_no_outliers(seeded: dict[str, Any]) -> None:
    """Against a same-weekday median of the four previous weeks, no clean point strays far."""
    worst = 0.0
    for c in seeded["truth"]["clean_series"]:
        s = np.log(
            _series(c["product"], c["metric"], c["dimension_key"], c["dimension_value"]).to_numpy() + 0.5
        )
        base = np.median(np.stack([s[28 - 7 * w : len(s) - 7 * w] for w in range(1, 5)]), axis=0)
        resid = s[28:] - base
        mad = 1.4826 * np.median(np.abs(resid - np.median(resid)))
        worst = max(worst, float(np.max(np.abs(resid - np.median(resid))) / mad))
    assert worst < 5.5
    # The same yardstick does see the planted level shift in Canvas's conversion rate.
    s = np.log(_series("canvas", "conversion_rate").to_numpy())
    before, after = s[360:420], s[430:]
    assert after.mean() - before.mean() < -0.25


@pytest.mark.django_db
def test_experiments_srm_winner_and_collision(seeded: dict[str, Any]) -> None:
    truth = seeded["truth"]["experiments"]

    def final(key: str, metric: str) -> dict[str, tuple[int, int]]:
        exp = Experiment.objects.get(source_key="demo", key=key)
        last = ExperimentResult.objects.filter(experiment=exp, metric_key=metric).order_by("-date").first()
        assert last is not None
        rows = ExperimentResult.objects.filter(experiment=exp, metric_key=metric, date=last.date)
        return {r.variant.key: (r.exposures, r.conversions or 0) for r in rows.select_related("variant")}

    srm = Experiment.objects.get(key=truth["srm"])
    assert srm.traffic_split == {"control": 0.5, "one_page": 0.5}
    res = final(srm.key, srm.primary_metric)
    n = np.array([res["control"][0], res["one_page"][0]])
    assert n.sum() > 150_000
    assert 0.52 < n[0] / n.sum() < 0.53
    assert sps.chisquare(n).pvalue < 1e-6

    w = truth["winner"]
    res = final(w["experiment"], w["metric"])
    (n0, c0), (n1, c1) = res["control"], res[w["variant"]]
    pooled = (c0 + c1) / (n0 + n1)
    z = (c1 / n1 - c0 / n0) / np.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    assert z > 5

    a, b = (Experiment.objects.get(key=k) for k in truth["collision"])
    assert a.surface == b.surface == truth["surface"] and a.team_id != b.team_id
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    assert a.started_at and b.started_at
    assert a.started_at < (b.ended_at or never) and b.started_at < (a.ended_at or never)


@pytest.mark.django_db
def test_ticket_spike_and_incident(seeded: dict[str, Any]) -> None:
    truth = seeded["truth"]
    spike = truth["ticket_spike"]
    tickets = pd.DataFrame(
        SupportTicket.objects.filter(product__slug=spike["product"]).values("opened_at", "tags", "body_text")
    )
    tickets["day"] = tickets["opened_at"].dt.date
    tagged = tickets[tickets["tags"].apply(lambda t: spike["tag"] in t)]
    start, end = dt.date.fromisoformat(spike["start"]), dt.date.fromisoformat(spike["end"])
    inside = tagged[(tagged["day"] >= start) & (tagged["day"] <= end)]
    outside = tagged[(tagged["day"] < start) | (tagged["day"] > end)]
    assert len(inside) / 5 > 10 * (len(outside) / (world.N_DAYS - 5))
    assert inside["body_text"].str.contains(spike["phrase"]).sum() >= 20
    assert PortfolioItem.objects.get(external_id=spike["portfolio_item"]).components == ["billing-export"]

    incident = truth["incident"]
    a, b = incident["start"], incident["end"]
    changes = FlagChange.objects.filter(flag__key=incident["flag"], changed_at__date__range=(a, b))
    assert changes.count() >= 1
    tags = SupportTicket.objects.filter(
        product__slug=incident["product"], opened_at__date__range=(a, b)
    ).values_list("tags", flat=True)
    assert sum(incident["ticket_tag"] in t for t in tags) >= 60  # 3 days x 25 planted, plus the baseline
    assert _window_ratio(_series(incident["product"], incident["metric"]), a, b) < 0.7


@pytest.mark.django_db
def test_nps_hashes_and_drop(seeded: dict[str, Any]) -> None:
    shift = seeded["truth"]["nps_shift"]
    responses = pd.DataFrame(NpsResponse.objects.filter(product__slug=shift["product"]).values())
    assert responses["respondent_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert not responses["comment"].str.contains("@").any()
    responses["day"] = responses["submitted_at"].dt.date

    def nps(df: pd.DataFrame) -> float:
        return 100 * ((df["score"] >= 9).mean() - (df["score"] <= 6).mean())

    start = dt.date.fromisoformat(shift["start"])
    assert nps(responses[responses["day"] < start]) - nps(responses[responses["day"] >= start]) > 25
    assert responses["comment"].nunique() > 50


@pytest.mark.django_db
def test_portfolio_overlaps(seeded: dict[str, Any]) -> None:
    items = {i.external_id: i for i in PortfolioItem.objects.filter(source_key="demo")}
    assert len(items) >= 150
    assert {i.kind for i in items.values()} == {"initiative", "epic", "story"}
    assert {i.tracker for i in items.values()} == {"jira", "github", "gitlab", "linear"}
    assert all(i.parent_id for i in items.values() if i.kind != "initiative")
    for pair in seeded["truth"]["overlaps"]:
        a, b = items[pair["a"]], items[pair["b"]]
        assert a.team_id != b.team_id
        linked = Dependency.objects.filter(from_item__in=[a, b], to_item__in=[a, b]).exists()
        assert not linked, pair
        if pair["kind"] == "conflict":
            assert a.components == b.components
            assert a.start_date <= b.target_date and b.start_date <= a.target_date
        if pair["kind"] == "hidden_dependency":
            assert b.external_id in a.description
    assert Dependency.objects.filter(source_key="demo").count() == len(seeded["truth"]["dependencies"])
    # The planted conflict is the only cross-team pair sharing a component over overlapping dates.
    clashes = {
        tuple(sorted((a.external_id, b.external_id)))
        for a, b in combinations(items.values(), 2)
        if a.team_id != b.team_id
        and set(a.components) & set(b.components)
        and a.start_date <= b.target_date
        and b.start_date <= a.target_date
    }
    planted = {
        tuple(sorted((p["a"], p["b"]))) for p in seeded["truth"]["overlaps"] if p["kind"] == "conflict"
    }
    assert clashes == planted


def test_scale_adds_benchmark_products_and_markets() -> None:
    assert world.extra_products(1) == []
    extra = world.extra_products(10)
    assert len(extra) == 27 and len({p.slug for p in extra}) == 27
    assert not {p.slug for p in extra} & {p.slug for p in world.PRODUCTS}
    codes, shares = world.countries_for_scale(10)
    assert len(set(codes)) == 50 and codes[:6] == world.CORE_COUNTRIES
    assert shares.sum() == pytest.approx(1.0)


@pytest.mark.django_db
def test_only_seeds_the_requested_sections(seeded: dict[str, Any]) -> None:
    truth, stats = seed_with_stats(seed=7, only={"portfolio"})
    assert set(stats) == {"portfolio_items", "portfolio_parents", "dependencies"}
    assert truth["overlaps"] == seeded["truth"]["overlaps"]
    assert "ticket_spike" not in truth and truth["anomalies"] == []
    with pytest.raises(ValueError, match="unknown demo section"):
        seed_with_stats(only={"tickets"})
