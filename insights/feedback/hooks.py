"""Recompute hooks: feedback after NPS / ticket / mention / KB / research writes, verdicts after experiment syncs."""

from __future__ import annotations

from insights.recompute import RecomputeScope, on_change


@on_change("feedback", {"nps", "tickets", "mentions", "kb", "research"})
def recompute_feedback_hook(scope: RecomputeScope) -> None:
    from .nps import recompute_nps_insights
    from .services import recompute_feedback

    # Themes are clustered per product; a write's rows since its since-date join the product's existing
    # themes when they are few (services.recompute_themes), else the product is re-clustered.
    product_ids = None if scope.full else (sorted(scope.product_ids) or None)
    since = None if scope.full else scope.since
    recompute_feedback(product_ids=product_ids, full=False, since=since)
    recompute_nps_insights(product_ids=product_ids)


@on_change("experiments", {"experiments"})
def recompute_experiments_hook(scope: RecomputeScope) -> None:
    from .experiments import recompute_experiment_insights

    recompute_experiment_insights()
