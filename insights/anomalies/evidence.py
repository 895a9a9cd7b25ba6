"""Incident evidence: the discrete changes a product went through, and which of them an incident shows.

Each evidence source is one function ``(product_ids | None) -> [(product id, Change)]`` registered in
``SOURCES`` under its kind. A new source (PagerDuty incidents, error-tracker releases, ...) is one
function and one entry here, plus its rank in ``KIND_RANK``; nothing else changes.

An incident shows only the changes that happened shortly before its onset (``lead`` before it to one
step after it, since a daily point stands for the whole day), at most ``MAX_SHOWN`` of them, ranked by
kind (a flag flip explains more than a release note) and then by closeness to the onset. The rest are
counted and reachable through a link.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import pandas as pd

from .events import Change

MAX_SHOWN = 4
# Lower ranks first: what flips behaviour at once, an on-call page, experiments, then shipped work.
KIND_RANK = {"flag": 0, "incident": 1, "experiment": 2, "release": 3}


def _naive(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_convert(None) if ts.tzinfo else ts


def flag_changes(product_ids: Iterable[int] | None) -> list[tuple[int, Change]]:
    from productops.signals.models import FlagChange

    qs = FlagChange.objects.select_related("flag").filter(flag__product__isnull=False)
    if product_ids is not None:
        qs = qs.filter(flag__product_id__in=list(product_ids))
    out = []
    for fc in qs:
        label = f"Flag {fc.flag.key}: {fc.description or ('enabled' if fc.enabled else 'changed')}"
        out.append((int(fc.flag.product_id or 0), Change("flag", _naive(fc.changed_at), label, fc.flag.key)))
    return out


def experiment_starts(product_ids: Iterable[int] | None) -> list[tuple[int, Change]]:
    from productops.signals.models import Experiment

    qs = Experiment.objects.filter(product__isnull=False, started_at__isnull=False)
    if product_ids is not None:
        qs = qs.filter(product_id__in=list(product_ids))
    return [
        (
            int(exp.product_id or 0),
            Change("experiment", _naive(exp.started_at), f"Experiment {exp.name} started", exp.key),
        )
        for exp in qs
    ]


def releases(product_ids: Iterable[int] | None) -> list[tuple[int, Change]]:
    from productops.portfolio.models import PortfolioItem

    qs = PortfolioItem.objects.filter(product__isnull=False, done_at__isnull=False, is_gone=False)
    if product_ids is not None:
        qs = qs.filter(product_id__in=list(product_ids))
    return [
        (
            int(item.product_id or 0),
            Change("release", _naive(item.done_at), f"Released: {item.title}", item.external_id),
        )
        for item in qs
    ]


def deploys(product_ids: Iterable[int] | None) -> list[tuple[int, Change]]:
    """Releases an error tracker saw deployed (Sentry), as releases."""
    from productops.signals.models import Release

    qs = Release.objects.filter(product__isnull=False)
    if product_ids is not None:
        qs = qs.filter(product_id__in=list(product_ids))
    out = []
    for rel in qs.only("product_id", "released_at", "version", "project", "environment"):
        where = " · ".join(part for part in (rel.project, rel.environment) if part)
        label = f"Released: {rel.version}" + (f" ({where})" if where else "")
        out.append((int(rel.product_id or 0), Change("release", _naive(rel.released_at), label, rel.version)))
    return out


def oncall_incidents(product_ids: Iterable[int] | None) -> list[tuple[int, Change]]:
    """On-call incidents (PagerDuty) opened for the product's services."""
    from productops.signals.models import OpsIncident

    qs = OpsIncident.objects.filter(product__isnull=False)
    if product_ids is not None:
        qs = qs.filter(product_id__in=list(product_ids))
    out = []
    for inc in qs.only(
        "product_id", "opened_at", "number", "title", "urgency", "service_name", "external_id"
    ):
        number = f" #{inc.number}" if inc.number else ""
        urgency = f", {inc.urgency} urgency" if inc.urgency else ""
        label = f"On-call incident{number}: {inc.title} ({inc.service_name or 'service'}{urgency})"
        out.append(
            (int(inc.product_id or 0), Change("incident", _naive(inc.opened_at), label, inc.external_id))
        )
    return out


SOURCES: dict[str, Callable[[Iterable[int] | None], list[tuple[int, Change]]]] = {
    "flag": flag_changes,
    "experiment": experiment_starts,
    "release": releases,
    "deploy": deploys,
    "incident": oncall_incidents,
}


def collect(product_ids: Iterable[int] | None = None) -> list[tuple[int, Change]]:
    """Every registered source's changes for these products (all products when None)."""
    ids = list(product_ids) if product_ids is not None else None
    out: list[tuple[int, Change]] = []
    for source in SOURCES.values():
        out.extend(source(ids))
    return out


def select_changes(
    changes: Iterable[Change],
    onset: pd.Timestamp,
    lead: timedelta,
    after: timedelta,
    limit: int = MAX_SHOWN,
) -> tuple[list[Change], list[Change]]:
    """(shown, more): the changes from ``lead`` before the onset to ``after`` it, best first, split at
    ``limit``. Changes outside that window are neither: they are not evidence for this onset."""
    onset = _naive(onset)
    near = [c for c in changes if onset - lead <= _naive(c.at) <= onset + after]
    near.sort(
        key=lambda c: (KIND_RANK.get(c.kind, len(KIND_RANK)), abs((_naive(c.at) - onset).total_seconds()))
    )
    return near[:limit], near[limit:]
