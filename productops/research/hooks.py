"""Registers the research recompute with insights.recompute: after research writes, and nightly."""

from __future__ import annotations

from insights.recompute import RecomputeScope, on_change


@on_change("redundant_research", {"research"})
def recompute_research(scope: RecomputeScope) -> None:
    """Studies are few (hundreds, not millions): every pair is compared on each research write."""
    from .services import recompute_redundant_research

    recompute_redundant_research()
