"""Experiments (with daily cumulative results) and feature flags (with their change history).

Planted: one sample-ratio mismatch (50/50 configured, 52.5/47.5 observed on ~200k users), one clear
winner, two teams' experiments on the same surface at the same time, and the incident's flag change.
The "inconclusive" experiments are redrawn until their final z-score is small, so they stay
inconclusive whatever the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from productops.signals.ingest import UpsertResult, upsert
from productops.signals.models import Experiment, ExperimentResult, FeatureFlag, FlagChange, Variant

from . import world
from .metrics import INCIDENT_START
from .world import N_DAYS, SOURCE_KEY


@dataclass(frozen=True)
class ExperimentSpec:
    key: str
    product: str
    team: str
    name: str
    hypothesis: str
    surface: str
    start: int  # day index
    days: int
    daily_traffic: int
    metric: str
    # (variant key, configured weight, observed share, true conversion rate)
    variants: tuple[tuple[str, float, float, float], ...]
    role: str  # srm | winner | collision | inconclusive
    revenue_metric: bool = False


EXPERIMENTS: tuple[ExperimentSpec, ...] = (
    ExperimentSpec(
        "ledger-one-page-checkout",
        "ledger",
        "payments",
        "One-page checkout",
        "Putting card details and plan choice on one page raises paid conversions.",
        "checkout",
        480,
        30,
        7000,
        "checkout_conversion",
        (("control", 0.5, 0.525, 0.08), ("one_page", 0.5, 0.475, 0.08)),
        "srm",
    ),
    ExperimentSpec(
        "pulse-onboarding-checklist",
        "pulse",
        "growth",
        "Onboarding checklist",
        "A five-step checklist on first launch raises day-1 activation.",
        "onboarding",
        440,
        28,
        3000,
        "activation",
        (("control", 0.5, 0.5, 0.20), ("checklist", 0.5, 0.5, 0.235)),
        "winner",
    ),
    ExperimentSpec(
        "canvas-share-dialog-redesign",
        "canvas",
        "collaboration",
        "Share dialog redesign",
        "A simpler share dialog with a role picker raises invites sent.",
        "share-dialog",
        500,
        40,
        2500,
        "invite_sent",
        (("control", 0.5, 0.5, 0.12), ("redesign", 0.5, 0.5, 0.12)),
        "collision",
    ),
    ExperimentSpec(
        "canvas-share-upsell-banner",
        "canvas",
        "growth",
        "Upsell banner in the share dialog",
        "Showing the Business plan in the share dialog raises upgrades from free workspaces.",
        "share-dialog",
        510,
        30,
        2500,
        "upgrade",
        (("control", 0.5, 0.5, 0.05), ("banner", 0.5, 0.5, 0.05)),
        "collision",
    ),
    ExperimentSpec(
        "ledger-reminder-copy",
        "ledger",
        "payments",
        "Payment reminder wording",
        "A friendlier reminder e-mail gets invoices paid sooner.",
        "reminder-emails",
        380,
        21,
        1500,
        "invoice_paid_7d",
        (("control", 0.34, 0.34, 0.30), ("friendly", 0.33, 0.33, 0.30), ("firm", 0.33, 0.33, 0.30)),
        "inconclusive",
    ),
    ExperimentSpec(
        "pulse-call-quality-badge",
        "pulse",
        "mobile",
        "Call quality badge",
        "Showing a network-quality badge before calls reduces dropped calls.",
        "call-screen",
        300,
        21,
        4000,
        "call_completed",
        (("control", 0.5, 0.5, 0.6), ("badge", 0.5, 0.5, 0.6)),
        "inconclusive",
    ),
    ExperimentSpec(
        "canvas-template-gallery-order",
        "canvas",
        "insights",
        "Template gallery ordering",
        "Ordering templates by popularity raises template use.",
        "template-gallery",
        250,
        28,
        1800,
        "template_used",
        (("control", 0.5, 0.5, 0.15), ("popular_first", 0.5, 0.5, 0.15)),
        "inconclusive",
    ),
    ExperimentSpec(
        "ledger-annual-toggle",
        "ledger",
        "growth",
        "Annual billing toggle default",
        "Defaulting the pricing toggle to annual raises revenue per visitor.",
        "pricing-page",
        150,
        28,
        2200,
        "plan_purchased",
        (("control", 0.5, 0.5, 0.04), ("annual_default", 0.5, 0.5, 0.04)),
        "inconclusive",
        revenue_metric=True,
    ),
)


def _simulate(
    spec: ExperimentSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Daily exposures, conversions, revenue sums and sums of squares per (day, variant)."""
    days = min(spec.days, N_DAYS - spec.start)
    shares = np.array([v[2] for v in spec.variants])
    rates = np.array([v[3] for v in spec.variants])
    for _attempt in range(50):
        traffic = rng.poisson(spec.daily_traffic, days)
        exposures = np.stack([rng.multinomial(t, shares / shares.sum()) for t in traffic])
        conversions = rng.binomial(exposures, rates[None, :])
        if spec.role != "inconclusive":
            break
        e, c = exposures.sum(axis=0), conversions.sum(axis=0)
        p = c / e
        pooled = c.sum() / e.sum()
        se = np.sqrt(pooled * (1 - pooled) * (1 / e[1:] + 1 / e[0]))
        if np.all(np.abs((p[1:] - p[0]) / se) < 1.5):
            break
    sums = np.zeros(conversions.shape)
    squares = np.zeros(conversions.shape)
    if spec.revenue_metric:
        for (d, v), n in np.ndenumerate(conversions):
            amounts = rng.lognormal(np.log(240), 0.5, n)
            sums[d, v], squares[d, v] = amounts.sum(), (amounts**2).sum()
    return exposures, conversions, sums, squares


def seed_experiments(
    products: dict[str, int], teams: dict[str, int], seed: int, truth: dict[str, Any]
) -> dict[str, UpsertResult]:
    rng = world.rng(seed, "experiments")
    exp_rows = []
    for spec in EXPERIMENTS:
        end = spec.start + spec.days - 1
        running = end >= N_DAYS - 1
        exp_rows.append(
            {
                "source_key": SOURCE_KEY,
                "external_id": spec.key,
                "product_id": products[spec.product],
                "team_id": teams[spec.team],
                "key": spec.key,
                "name": spec.name,
                "hypothesis": spec.hypothesis,
                "status": "running" if running else "finished",
                "started_at": world.at(spec.start, 9 * 3600),
                "ended_at": None if running else world.at(end, 18 * 3600),
                "surface": spec.surface,
                "primary_metric": spec.metric,
                "traffic_split": {v[0]: v[1] for v in spec.variants},
            }
        )
    experiments = upsert(Experiment, exp_rows)
    exp_ids = dict(Experiment.objects.filter(source_key=SOURCE_KEY).values_list("external_id", "id"))
    variant_rows = [
        {
            "experiment_id": exp_ids[spec.key],
            "key": v[0],
            "name": v[0].replace("_", " ").title(),
            "is_control": i == 0,
            "weight": v[1],
        }
        for spec in EXPERIMENTS
        for i, v in enumerate(spec.variants)
    ]
    variants = upsert(Variant, variant_rows)
    variant_ids = {
        (e, k): pk
        for e, k, pk in Variant.objects.filter(experiment_id__in=exp_ids.values()).values_list(
            "experiment_id", "key", "id"
        )
    }
    result_rows = []
    for spec in EXPERIMENTS:
        exposures, conversions, sums, squares = _simulate(spec, rng)
        cum = [np.cumsum(a, axis=0) for a in (exposures, conversions, sums, squares)]
        for d in range(exposures.shape[0]):
            for v, variant in enumerate(spec.variants):
                base = {
                    "experiment_id": exp_ids[spec.key],
                    "variant_id": variant_ids[(exp_ids[spec.key], variant[0])],
                    "date": world.day(spec.start + d),
                    "exposures": int(cum[0][d, v]),
                }
                result_rows.append(
                    {
                        **base,
                        "metric_key": spec.metric,
                        "kind": "conversion",
                        "conversions": int(cum[1][d, v]),
                        "value_sum": None,
                        "value_sum_squares": None,
                    }
                )
                if spec.revenue_metric:
                    result_rows.append(
                        {
                            **base,
                            "metric_key": "revenue_per_visitor",
                            "kind": "continuous",
                            "conversions": None,
                            "value_sum": round(float(cum[2][d, v]), 2),
                            "value_sum_squares": round(float(cum[3][d, v]), 2),
                        }
                    )
    results = upsert(ExperimentResult, result_rows)

    collision = [s.key for s in EXPERIMENTS if s.role == "collision"]
    winner = next(s for s in EXPERIMENTS if s.role == "winner")
    truth["experiments"] = {
        "srm": next(s.key for s in EXPERIMENTS if s.role == "srm"),
        "winner": {"experiment": winner.key, "variant": winner.variants[1][0], "metric": winner.metric},
        "collision": collision,
        "surface": next(s.surface for s in EXPERIMENTS if s.role == "collision"),
        "inconclusive": [s.key for s in EXPERIMENTS if s.role == "inconclusive"],
    }
    stats = {"experiments": experiments, "variants": variants, "experiment_results": results}
    stats.update(seed_flags(products, teams, seed, truth))
    return stats


# (key, product, team, name, [(day, enabled, rollout %, description), ...])
INCIDENT_FLAG = "pulse-sync-v2"
FLAGS: list[tuple[str, str, str, str, list[tuple[int, bool, float, str]]]] = [
    (
        INCIDENT_FLAG,
        "pulse",
        "mobile",
        "New message sync engine",
        [
            (430, False, 0.0, "Created"),
            (455, True, 10.0, "Rolled out to 10% of workspaces"),
            (INCIDENT_START, True, 100.0, "Rolled out to everyone"),
            (INCIDENT_START + 2, False, 0.0, "Rolled back: messages failing to send"),
        ],
    ),
]
GENERIC_FLAGS = [
    ("ledger", "payments", "instalment-plans", "Instalment plans"),
    ("ledger", "payments", "card-on-invoice", "Card payment on invoices"),
    ("ledger", "growth", "annual-toggle-default", "Annual toggle default"),
    ("ledger", "insights", "new-revenue-report", "New revenue report"),
    ("pulse", "mobile", "offline-queue", "Offline message queue"),
    ("pulse", "platform", "regional-failover", "Regional failover"),
    ("pulse", "growth", "onboarding-checklist", "Onboarding checklist"),
    ("canvas", "collaboration", "threaded-comments", "Threaded comments"),
    ("canvas", "collaboration", "share-dialog-v2", "Share dialog v2"),
    ("canvas", "mobile", "tablet-layout", "Tablet layout"),
    ("canvas", "platform", "public-api-v2", "Public API v2"),
    ("canvas", "insights", "cohort-charts", "Cohort charts"),
    ("pulse", "collaboration", "call-reactions", "Reactions in calls"),
]


def seed_flags(
    products: dict[str, int], teams: dict[str, int], seed: int, truth: dict[str, Any]
) -> dict[str, UpsertResult]:
    rng = world.rng(seed, "flags")
    flags = list(FLAGS)
    for product, team, key, name in GENERIC_FLAGS:
        day = int(rng.integers(world.WARMUP_DAYS, N_DAYS - 120))
        history = [(day, False, 0.0, "Created")]
        for pct in (5.0, 25.0, 50.0, 100.0):
            day += int(rng.integers(3, 25))
            if day >= N_DAYS or rng.random() < 0.12:
                break
            history.append((day, True, pct, f"Rolled out to {pct:g}%"))
        flags.append((f"{product}-{key}", product, team, name, history))
    flag_rows = []
    for key, product, team, name, history in flags:
        last_day, enabled, pct, _ = history[-1]
        flag_rows.append(
            {
                "source_key": SOURCE_KEY,
                "external_id": key,
                "product_id": products[product],
                "team_id": teams[team],
                "key": key,
                "name": name,
                "enabled": enabled,
                "rollout_pct": pct,
                "updated_at_source": world.at(last_day, 10 * 3600),
            }
        )
    flag_result = upsert(FeatureFlag, flag_rows)
    flag_ids = dict(FeatureFlag.objects.filter(source_key=SOURCE_KEY).values_list("external_id", "id"))
    change_rows = [
        {
            "flag_id": flag_ids[key],
            "external_id": f"{key}-{i + 1}",
            "changed_at": world.at(d, 10 * 3600 + i * 60),
            "description": description,
            "enabled": enabled,
            "rollout_pct": pct,
        }
        for key, _p, _t, _n, history in flags
        for i, (d, enabled, pct, description) in enumerate(history)
    ]
    changes = upsert(FlagChange, change_rows)
    truth["incident"] = {
        "product": "pulse",
        "start": world.iso(INCIDENT_START),
        "end": world.iso(INCIDENT_START + 2),
        "metric": "feature_usage",
        "ticket_tag": "messages-not-sending",
        "flag": INCIDENT_FLAG,
        "phrase": "messages not sending",
    }
    return {"feature_flags": flag_result, "flag_changes": changes}
