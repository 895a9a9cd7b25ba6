"""Recompute hooks: feedback after NPS / ticket / mention / KB / research writes, verdicts after experiment syncs."""

from __future__ import annotations

from insights.recompute import RecomputeScope, on_change


@on_change("feedback", {"nps", "tickets", "mentions", "kb", "research"})
def recompute_feedback_hook(scope: RecomputeScope) -> None:
    from .nps import recompute_nps_insights
    from .services import recompute_feedback

    # Themes are clustered per product over all its feedback, so a sync's product scope is enough.
    product_ids = None if scope.full else (sorted(scope.product_ids) or None)
    recompute_feedback(product_ids=product_ids, full=False)
    recompute_nps_insights(product_ids=product_ids)


@on_change("experiments", {"experiments"})
def recompute_experiments_hook(scope: RecomputeScope) -> None:
    from .experiments import recompute_experiment_insights

    recompute_experiment_insights()
