"""Daily metric series with planted anomalies, and the ground truth of what was planted.

Every metric is generated on a grid of cells (platform x country). A series is a sum over cells: the
overall total sums every cell, platform=ios sums the ios cells of every country, and so on. Count and
currency metrics therefore add up exactly (total == sum of each dimension's values, per day). The
ratio metric (conversion_rate) is conversions / visitors over the same cells, and session_length is
a mean weighted by each cell's share of users, so neither of those two sums.

An anomaly multiplies the expected value of some cells over a window (all cells, or one dimension
value's cells for a "driven" anomaly). Which series then show it is computed, not guessed: for every
series the effect of the multiplier is compared with that series' own noise (a robust standard
deviation of its log residuals), and the series is listed as an anomaly only where a detector can
reasonably see it. Series with a weaker trace go to "incidental"; series never touched go to "clean".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from productops.signals.ingest import UpsertResult, upsert
from productops.signals.models import Aggregation, Direction, Metric, MetricPoint, Unit

from . import world
from .world import N_DAYS, PLATFORMS, SOURCE_KEY, ProductSpec

# key -> (name, unit, good direction, aggregation, description, generator kind)
METRICS: dict[str, tuple[str, str, str, str, str, str]] = {
    "daily_active_users": (
        "Daily active users",
        Unit.COUNT,
        Direction.UP,
        Aggregation.MEAN,
        "Distinct users with at least one session that day.",
        "count",
    ),
    "signups": ("Sign-ups", Unit.COUNT, Direction.UP, Aggregation.SUM, "New accounts created.", "count"),
    "conversion_rate": (
        "Trial to paid conversion",
        Unit.RATIO,
        Direction.UP,
        Aggregation.MEAN,
        "Share of pricing-page visitors who start a paid plan that day (conversions / visitors).",
        "ratio",
    ),
    "revenue": (
        "Revenue",
        Unit.CURRENCY,
        Direction.UP,
        Aggregation.SUM,
        "Booked revenue in EUR.",
        "currency",
    ),
    "feature_usage": (
        "Core feature usage",
        Unit.COUNT,
        Direction.UP,
        Aggregation.SUM,
        "Uses of the product's core feature (exports, messages sent, boards created).",
        "count",
    ),
    "session_length": (
        "Average session length",
        Unit.SECONDS,
        Direction.UP,
        Aggregation.MEAN,
        "Session length in seconds, weighted across platforms and countries.",
        "mean",
    ),
}


@dataclass(frozen=True)
class Plant:
    product: str
    metric: str
    kind: str  # spike | dip | level_shift | drift
    start: int  # day index
    days: int  # length of the window; level shifts and drifts run to the end of the data
    factor: float  # multiplier at the peak (drift: at the last day)
    driver: tuple[str, str] | None = None  # ("platform", "android"): only those cells move
    note: str = ""

    @property
    def end(self) -> int:
        return N_DAYS - 1 if self.kind in {"level_shift", "drift"} else self.start + self.days - 1


# Day indices are relative to START_DATE (2025-05-24); all are past the 60-day warm-up.
INCIDENT_START = 470
PLANTS: tuple[Plant, ...] = (
    Plant("ledger", "signups", "dip", 400, 4, 0.12, ("platform", "android"), "Android sign-up form broken"),
    Plant("ledger", "revenue", "spike", 250, 1, 1.9, None, "Annual-plan promotion"),
    Plant("ledger", "daily_active_users", "dip", 180, 2, 0.6, None, "Login outage"),
    Plant("pulse", "daily_active_users", "level_shift", 300, 0, 3.6, ("country", "BR"), "Launch in Brazil"),
    Plant("pulse", "signups", "spike", 350, 1, 4.5, ("platform", "ios"), "Featured in the App Store"),
    Plant("pulse", "feature_usage", "dip", INCIDENT_START, 3, 0.55, None, "Incident: messages not sending"),
    Plant("canvas", "conversion_rate", "level_shift", 420, 0, 0.68, None, "Pricing page redesign"),
    Plant("canvas", "session_length", "drift", 485, 0, 0.70, None, "Slow board loading"),
    Plant("canvas", "daily_active_users", "dip", 200, 2, 0.55, None, "Regional cloud outage"),
    Plant(
        "canvas", "revenue", "spike", 515, 2, 2.3, ("country", "US"), "Black-Friday-style promotion in the US"
    ),
)

SPIKE_Z = 6.0  # a spike/dip counts where its peak is at least this many robust SDs (margin over 5)
SHIFT_Z = 3.0  # a sustained change counts at this many SDs per point, if also >= SHIFT_MIN
SHIFT_MIN = 0.15


def _weekly(spec: ProductSpec, n_days: int) -> np.ndarray:
    """(days, platforms) weekday factors: weekdays 1, weekends the product's factor."""
    dow = np.array([world.day(i).weekday() for i in range(n_days)])
    out = np.ones((n_days, len(PLATFORMS)))
    weekend = np.isin(dow, (5, 6))
    out[weekend] = np.array(spec.weekend)
    friday = dow == 4
    out[friday] *= 0.93
    return out


def _trend(spec: ProductSpec, n_days: int, phase: float) -> np.ndarray:
    t = np.arange(n_days) / n_days
    seasonal = 1 + 0.04 * np.sin(2 * np.pi * (np.arange(n_days) / 365.25 + phase))
    return (1 + spec.growth * t) * seasonal


def _series_masks(n_platforms: int, countries: tuple[str, ...]) -> list[tuple[str, str, np.ndarray]]:
    """(dimension_key, dimension_value, boolean mask over flattened cells) for every series."""
    n_cells = n_platforms * len(countries)
    plat_of = np.repeat(np.arange(n_platforms), len(countries))
    country_of = np.tile(np.arange(len(countries)), n_platforms)
    masks = [("", "", np.ones(n_cells, dtype=bool))]
    masks += [("platform", p, plat_of == i) for i, p in enumerate(PLATFORMS)]
    masks += [("country", c, country_of == i) for i, c in enumerate(countries)]
    return masks


def _multiplier(plants: list[Plant], n_days: int, countries: tuple[str, ...]) -> np.ndarray:
    n_cells = len(PLATFORMS) * len(countries)
    mult = np.ones((n_days, n_cells))
    plat_of = np.repeat(np.arange(len(PLATFORMS)), len(countries))
    country_of = np.tile(np.arange(len(countries)), len(PLATFORMS))
    for plant in plants:
        if plant.driver is None:
            cells = np.ones(n_cells, dtype=bool)
        elif plant.driver[0] == "platform":
            cells = plat_of == PLATFORMS.index(plant.driver[1])
        else:
            cells = country_of == countries.index(plant.driver[1])
        if plant.kind == "drift":
            ramp = np.linspace(1.0, plant.factor, n_days - plant.start)
            mult[plant.start :, cells] *= ramp[:, None]
        else:
            mult[plant.start : plant.end + 1, cells] *= plant.factor
    return mult


@dataclass
class Generated:
    """One metric's series: values (series, days), plus expectations used to build the ground truth."""

    dims: list[tuple[str, str, np.ndarray]]
    values: np.ndarray
    expected: np.ndarray  # with planted multipliers, no noise
    baseline: np.ndarray  # without planted multipliers, no noise


def generate_metric(
    spec: ProductSpec,
    key: str,
    countries: tuple[str, ...],
    country_shares: np.ndarray,
    rng: np.random.Generator,
) -> Generated:
    """Generate every series of one metric of one product (vectorised over days x cells)."""
    kind = METRICS[key][5]
    n_days, n_plat = N_DAYS, len(PLATFORMS)
    share = (np.array(spec.platform_shares)[:, None] * country_shares[None, :]).ravel()
    share = share * rng.uniform(0.85, 1.15, share.size)
    share /= share.sum()
    weekly = np.repeat(_weekly(spec, n_days), len(countries), axis=1)  # (days, cells)
    trend = _trend(spec, n_days, rng.uniform(0, 1))[:, None]
    plants = [p for p in PLANTS if p.product == spec.slug and p.metric == key]
    mult = _multiplier(plants, n_days, countries)
    dims = _series_masks(n_plat, countries)
    level = spec.levels[key]
    common = np.exp(rng.normal(0, 0.015, (n_days, 1)))  # day-level noise every cell shares

    if kind in {"count", "currency"}:
        base = level * share[None, :] * weekly * trend
        lam = base * mult * common * np.exp(rng.normal(0, 0.03, base.shape))
        if kind == "count":
            cells = rng.poisson(lam).astype(float)
        else:
            cells = np.round(lam * np.exp(rng.normal(0, 0.04, lam.shape)), 2)
        values = np.stack([cells[:, m].sum(axis=1) for _, _, m in dims])
        expected = np.stack([(base * mult)[:, m].sum(axis=1) for _, _, m in dims])
        baseline = np.stack([base[:, m].sum(axis=1) for _, _, m in dims])
        if kind == "currency":
            values = np.round(values, 2)
    elif kind == "ratio":
        # Visitors on the pricing page; conversion probability carries the trend and the plants.
        visitors_level = 40 * spec.levels["signups"]
        v_lam = visitors_level * share[None, :] * weekly * trend
        visitors = rng.poisson(v_lam * common)
        p_base = level * (1 + 0.08 * (trend - 1)) * np.ones_like(v_lam)
        p = np.clip(p_base * mult * np.exp(rng.normal(0, 0.03, v_lam.shape)), 0, 1)
        conv = rng.binomial(visitors, p)
        values = np.stack(
            [conv[:, m].sum(axis=1) / np.maximum(visitors[:, m].sum(axis=1), 1) for _, _, m in dims]
        )
        values = np.round(values, 6)
        expected = np.stack(
            [(v_lam * p_base * mult)[:, m].sum(axis=1) / v_lam[:, m].sum(axis=1) for _, _, m in dims]
        )
        baseline = np.stack(
            [(v_lam * p_base)[:, m].sum(axis=1) / v_lam[:, m].sum(axis=1) for _, _, m in dims]
        )
    else:  # mean (session length), weighted by each cell's share of users
        plat_factor = np.repeat(np.array([1.0, 1.25, 1.15]), len(countries))[None, :]
        base = level * plat_factor * (1 + 0.1 * (trend - 1)) * (0.97 + 0.03 * weekly)
        cells = base * mult * common * np.exp(rng.normal(0, 0.04, base.shape))
        w = share[None, :] * np.ones((n_days, 1))
        values = np.stack([(cells[:, m] * w[:, m]).sum(axis=1) / w[:, m].sum(axis=1) for _, _, m in dims])
        values = np.round(values, 1)
        expected = np.stack([((base * mult) * w)[:, m].sum(axis=1) / w[:, m].sum(axis=1) for _, _, m in dims])
        baseline = np.stack([(base * w)[:, m].sum(axis=1) / w[:, m].sum(axis=1) for _, _, m in dims])
    return Generated(dims, values, expected, baseline)


def _robust_sd(x: np.ndarray) -> float:
    med = np.median(x)
    return float(1.4826 * np.median(np.abs(x - med))) or 1e-9


def classify(spec: ProductSpec, key: str, gen: Generated, truth: dict[str, Any]) -> None:
    """Append this metric's series to truth["anomalies"], ["incidental"] or ["clean_series"]."""
    plants = [p for p in PLANTS if p.product == spec.slug and p.metric == key]
    for s, (dk, dv, _) in enumerate(gen.dims):
        ident = {"product": spec.slug, "metric": key, "dimension_key": dk, "dimension_value": dv}
        effect = np.log(np.maximum(gen.expected[s], 1e-9) / np.maximum(gen.baseline[s], 1e-9))
        if not plants or np.max(np.abs(effect)) < 1e-9:
            truth["clean_series"].append(ident)
            continue
        # Counts get +0.5 so an empty day stays finite; ratios and means are never near zero.
        offset = 0.5 if METRICS[key][5] in {"count", "currency"} else 0.0
        resid = np.log((gen.values[s] + offset) / (gen.expected[s] + offset))
        sd = _robust_sd(resid)
        for plant in plants:
            window = np.abs(effect[plant.start : plant.end + 1])
            peak = float(window.max())
            if peak < 1e-9:
                continue
            if plant.kind in {"spike", "dip"}:
                visible = peak / sd >= SPIKE_Z
            else:
                visible = peak >= SHIFT_MIN and peak / sd >= SHIFT_Z
            entry = {
                **ident,
                "start": world.iso(plant.start),
                "end": world.iso(plant.end),
                "kind": plant.kind,
                "driver": {"key": plant.driver[0], "value": plant.driver[1]} if plant.driver else None,
                "effect": round(float(np.expm1(effect[plant.start : plant.end + 1][np.argmax(window)])), 3),
                "z": round(peak / sd, 1),
            }
            truth["anomalies" if visible else "incidental"].append(entry)


def metric_rows(spec: ProductSpec, product_id: int, dimensions: list[str]) -> Iterator[dict[str, Any]]:
    for key, (name, unit, direction, aggregation, description, _) in METRICS.items():
        yield {
            "source_key": SOURCE_KEY,
            "external_id": f"metric:{spec.slug}:{key}",
            "product_id": product_id,
            "name": name,
            "key": key,
            "description": description,
            "unit": str(unit),
            "good_direction": str(direction),
            "aggregation": str(aggregation),
            "dimensions": dimensions,
        }


def point_rows(metric_id: int, gen: Generated) -> Iterator[dict[str, Any]]:
    stamps = [world.at(i) for i in range(N_DAYS)]
    for s, (dk, dv, _) in enumerate(gen.dims):
        for ts, value in zip(stamps, gen.values[s].tolist(), strict=True):
            yield {
                "metric_id": metric_id,
                "ts": ts,
                "dimension_key": dk,
                "dimension_value": dv,
                "value": value,
            }


def seed_metrics(
    products: dict[str, int], specs: list[ProductSpec], seed: int, scale: int, truth: dict[str, Any]
) -> dict[str, UpsertResult]:
    """Upsert metrics and points for every product; fill the anomaly parts of `truth`."""
    metrics_result, points_result = UpsertResult(), UpsertResult()
    for index, spec in enumerate(specs):
        # The core products look the same at every scale, so their ground truth does too.
        countries, shares = world.countries_for_scale(1 if index < 3 else scale)
        metrics_result += upsert(Metric, metric_rows(spec, products[spec.slug], ["platform", "country"]))
        ids = dict(
            Metric.objects.filter(source_key=SOURCE_KEY, product_id=products[spec.slug]).values_list(
                "key", "id"
            )
        )
        gen_rng = world.rng(seed, "metrics", index)
        for key in METRICS:
            gen = generate_metric(spec, key, countries, shares, gen_rng)
            if index < 3:
                classify(spec, key, gen, truth)
            points_result += upsert(MetricPoint, point_rows(ids[key], gen), batch_size=5000)
            world.forget_queries()
    return {"metrics": metrics_result, "metric_points": points_result}
