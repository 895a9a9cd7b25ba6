"""A deterministic, believable demo dataset with planted ground truth: `seed(seed=7, scale=1)`.

3 products (ledger, pulse, canvas), 6 teams, 18 months of daily data ending on 2026-11-22 (a Sunday).
Every row is written through `productops.signals.ingest.upsert` with source_key "demo", keyed by
natural keys, so a second run inserts and updates nothing. The same seed gives the same data and the
same ground truth; `scale` multiplies volume (more products, more countries, more tickets) for
benchmarks, and only the three core products carry planted events.

`seed()` returns the ground truth dict (also written as JSON by `manage.py seed_demo`). Keys:

- "seed", "scale", "start_date", "end_date" ("YYYY-MM-DD", end_date is the last day with data).
- "anomalies": one entry per (series, planted event) a detector should flag: {"product", "metric",
  "dimension_key", "dimension_value", "start", "end", "kind": spike|dip|level_shift|drift,
  "driver": {"key", "value"} | null}. Extra fields: "effect" (relative change at the peak, e.g.
  -0.85) and "z" (peak effect over the series' robust SD of log residuals). Level shifts and drifts
  run to end_date. A driven event is listed on its driver series, on the total, and on every other
  series where it is clearly visible (e.g. an android-driven dip also shows in each country).
- "incidental": same shape as "anomalies": series the event touches too weakly to demand detection
  (flagging them is neither required nor a false positive).
- "clean_series": [{"product", "metric", "dimension_key", "dimension_value"}]: no planted change at
  all; any anomaly reported there is a false positive.
- "ticket_spike": {"product", "tag", "start", "end", "phrase", "portfolio_item", "extra_per_day"}.
- "incident": {"product", "start", "end", "metric", "ticket_tag", "flag", "phrase"}.
- "experiments": {"srm": key, "winner": {"experiment", "variant", "metric"}, "collision": [key, key],
  "surface": the shared surface, "inconclusive": [keys]}.
- "nps_shift": {"product", "start", "end", "direction": "down", "phrase"}.
- "overlaps": [{"a", "b", "kind": duplicate|related|conflict|hidden_dependency}] (portfolio external ids).
- "dependencies": [{"from", "to", "kind": blocks|relates}]: the Dependency rows that do exist.
- "themes": [{"phrase", "product", "source"}] planted recurring topics (tickets or NPS comments).
- "monitoring": {"product", "metric", "release", "released_at", "spike_start", "spike_end", "issue",
  "pagerduty_incident"}: the Sentry release before the Pulse incident, its error spike (also listed in
  "anomalies"), the issue it introduced and the PagerDuty incident number, all in the incident's window.
- "goals": {"at_risk": {"key_result", "product", "metric"}, "on_track": {...}, "period": [start, end],
  "links": [{"item", "key_result"}]}: the Q4 2026 objectives; one bound key result planted at risk
  (Canvas session length, against the drift) and one on track (Pulse DAU).
- "research": {"studies": [external ids], "redundant": [a, b], "quarter"}: three studies; two teams'
  (Growth, Mobile) ask the same question in 2026-Q4 (strategy.py).
- "competitors": {"names", "spike": {"competitor", "week", "extra", "phrase"}, "decoys"}: two
  competitors, Quillbooks' planted mention spike in the last week, and texts that must not match.
- "delivery": {"slipping_epic", "slipping_title", "slip_days", "moves"}: the Growth epic whose target
  date moved twice, six weeks in all (with the portfolio section; estimates are seeded beside it).
- "counts": rows generated per table (not rows inserted: a re-run generates the same counts).

`seed(only={"portfolio"})` seeds just some sections (metrics, portfolio, feedback, experiments, monitoring, goals, strategy; products
and teams always) and returns only their keys: handy for a test that needs the portfolio in a second.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import transaction

from productops.signals.ingest import UpsertResult

from . import world

__all__ = ["seed", "seed_with_stats"]


SECTIONS = ("metrics", "portfolio", "feedback", "experiments", "monitoring", "goals", "strategy")


def seed(seed: int = 7, scale: int = 1, only: Collection[str] | None = None) -> dict[str, Any]:
    """Seed the demo data into the current database and return the ground truth dict.

    `only` limits seeding to some of SECTIONS (e.g. {"portfolio"} takes under a second, where the
    metrics take most of the ~10 s); the ground truth then holds only those sections' keys.
    """
    return seed_with_stats(seed, scale, only)[0]


def seed_with_stats(
    seed: int = 7, scale: int = 1, only: Collection[str] | None = None
) -> tuple[dict[str, Any], dict[str, UpsertResult]]:
    """Like `seed`, also returning what each table's upsert did (inserted / updated / unchanged)."""
    from productops.portfolio.models import Product, Team

    from . import delivery, experiments, feedback, goals, metrics, monitoring, portfolio, strategy

    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    sections = set(SECTIONS if only is None else only)
    if sections - set(SECTIONS):
        raise ValueError(
            f"unknown demo section(s) {sorted(sections - set(SECTIONS))}; choose from {SECTIONS}"
        )
    specs = list(world.PRODUCTS) + world.extra_products(scale)
    truth: dict[str, Any] = {
        "seed": seed,
        "scale": scale,
        "start_date": world.START_DATE.isoformat(),
        "end_date": world.END_DATE.isoformat(),
        "anomalies": [],
        "incidental": [],
        "clean_series": [],
        "counts": {},
    }
    with transaction.atomic():
        products = {}
        for spec in specs:
            product, _ = Product.objects.get_or_create(
                slug=spec.slug, defaults={"name": spec.name, "description": spec.description}
            )
            products[spec.slug] = product.pk
        teams = {}
        for slug, (name, product_slugs, *_rest) in world.TEAMS.items():
            team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
            team.products.add(*[products[p] for p in product_slugs])
            teams[slug] = team.pk

    stats: dict[str, UpsertResult] = {}
    if "metrics" in sections:
        stats.update(metrics.seed_metrics(products, specs, seed, scale, truth))
    if "portfolio" in sections:
        stats.update(portfolio.seed_portfolio(products, teams, seed, truth))
        delivery.seed_delivery(truth)  # estimates, creation dates and the slipping epic's history
    if "feedback" in sections:
        stats.update(feedback.seed_feedback(products, teams, specs, seed, scale, truth))
    if "experiments" in sections:
        stats.update(experiments.seed_experiments(products, teams, seed, truth))
    if "monitoring" in sections:
        # Sentry's error metric counts with the other metrics and points.
        for table, result in monitoring.seed_monitoring(products, seed, truth).items():
            if table in stats:
                stats[table] += result
            else:
                stats[table] = result
    if "goals" in sections:
        # Last: key results bind to the metrics and link to the portfolio items seeded above.
        goals.seed_goals(products, teams, truth)
    if "strategy" in sections:
        stats.update(strategy.seed_strategy(products, teams, seed, truth))
    truth["counts"] = {table: result.total for table, result in stats.items()}
    return truth, stats
