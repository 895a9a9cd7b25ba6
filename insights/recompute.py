"""Post-sync and nightly recompute hooks.

Each insight family (anomalies, overlaps, feedback...) registers a function with `@on_change`, naming
the signal families it reads. After a sync commits, the connector framework enqueues
`insights.tasks.recompute_after_sync`, which calls the hooks whose families changed. Nightly,
`recompute_all` calls every hook with `full=True`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

log = logging.getLogger(__name__)

FAMILIES = {"metrics", "nps", "tickets", "experiments", "flags", "mentions", "kb", "monitoring", "portfolio"}


@dataclass
class RecomputeScope:
    families: set[str]
    connection_id: int | None = None
    product_ids: set[int] = field(default_factory=set)
    metric_ids: set[int] = field(default_factory=set)
    since: datetime | None = None
    full: bool = False


Hook = Callable[[RecomputeScope], None]
_HOOKS: dict[str, tuple[frozenset[str], Hook]] = {}
_ORDER: dict[str, int] = {}


def on_change(name: str, families: set[str], *, order: int = 50) -> Callable[[Hook], Hook]:
    """Register a recompute. Lower `order` runs first: rollups and derived series before the detectors
    that read them (anomalies run last, since incidents join everything else)."""
    unknown = families - FAMILIES
    if unknown:
        raise ValueError(f"unknown signal families {sorted(unknown)}")

    def register(fn: Hook) -> Hook:
        _HOOKS[name] = (frozenset(families), fn)
        _ORDER[name] = order
        return fn

    return register


def hooks() -> dict[str, tuple[frozenset[str], Hook]]:
    return dict(_HOOKS)


def run(scope: RecomputeScope) -> list[str]:
    """Call every hook whose families intersect the scope; one failing hook does not stop the rest."""
    ran = []
    for name, (families, fn) in sorted(_HOOKS.items(), key=lambda item: (_ORDER[item[0]], item[0])):
        if scope.full or families & scope.families:
            try:
                fn(scope)
                ran.append(name)
            except Exception:
                log.exception("insight recompute %s failed (connection %s)", name, scope.connection_id)
    return ran
