"""The one post-write step: what every write path does after its rows commit.

Connector syncs, file uploads, the signed webhook, the Import page, `manage.py import_csv` and
`seed_demo` all call `record_write` once per write. It:

1. bumps the data version, so cached pages stop serving the old body;
2. touches the connection's health (a push is the connection working: last success now, errors cleared);
3. merges the write's scope (families x products, since-date, metric ids) into the pending recompute
   and queues `insights.tasks.recompute_pending`, which recomputes only those products and families.

Inside a transaction, all of this waits for the commit (`transaction.on_commit`): a rolled-back write
asks for nothing, and the worker never reads rows that aren't there yet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

# Which signal family each written model belongs to, and the column that dates its rows.
MODEL_FAMILIES: dict[str, str] = {
    "signals.Metric": "metrics",
    "signals.MetricPoint": "metrics",
    "signals.NpsResponse": "nps",
    "signals.SupportTicket": "tickets",
    "signals.Experiment": "experiments",
    "signals.Variant": "experiments",
    "signals.ExperimentResult": "experiments",
    "signals.FeatureFlag": "flags",
    "signals.FlagChange": "flags",
    "signals.Mention": "mentions",
    "signals.KbArticle": "kb",
    "signals.KbSearch": "kb",
    "portfolio.PortfolioItem": "portfolio",
    "portfolio.Dependency": "portfolio",
    "research.Study": "research",
    "research.StudyNote": "research",
    "research.Highlight": "research",
}
DATE_COLUMNS: dict[str, str] = {
    "signals.MetricPoint": "ts",
    "signals.NpsResponse": "submitted_at",
    "signals.SupportTicket": "opened_at",
    "signals.Mention": "posted_at",
    "signals.FlagChange": "changed_at",
}


@dataclass
class WriteScope:
    """What a write touched, gathered while writing: passed to `record_write` once it commits."""

    families: set[str] = field(default_factory=set)
    product_ids: set[int | None] = field(default_factory=set)
    metric_ids: set[int] = field(default_factory=set)
    since: datetime | None = None
    rows: int = 0

    def add(self, model: type[models.Model] | str, rows: Iterable[dict[str, object]]) -> None:
        label = model if isinstance(model, str) else model._meta.label
        family = MODEL_FAMILIES.get(label)
        if family:
            self.families.add(family)
        date_column = DATE_COLUMNS.get(label)
        for row in rows:
            self.rows += 1
            if "product_id" in row:
                self.product_ids.add(row["product_id"])  # type: ignore[arg-type]
            if label == "signals.MetricPoint" and row.get("metric_id"):
                self.metric_ids.add(int(row["metric_id"]))  # type: ignore[call-overload]
            when = row.get(date_column) if date_column else None
            if isinstance(when, datetime) and (self.since is None or when < self.since):
                self.since = when

    def merge(self, other: WriteScope) -> None:
        self.families |= other.families
        self.product_ids |= other.product_ids
        self.metric_ids |= other.metric_ids
        self.rows += other.rows
        if other.since is not None and (self.since is None or other.since < self.since):
            self.since = other.since


def metric_products(metric_ids: Iterable[int]) -> set[int | None]:
    from .models import Metric

    return set(Metric.objects.filter(pk__in=list(metric_ids)).values_list("product_id", flat=True))


def record_write(
    source: str,
    families: Iterable[str],
    product_ids: Iterable[int | None] = (),
    since: datetime | None = None,
    *,
    metric_ids: Iterable[int] = (),
    connection_id: int | None = None,
) -> None:
    """After a write commits: bump the data version, touch the connection, queue a scoped recompute.

    `source` is the rows' source_key (`conn:<id>`, `manual`, `demo`); `families` the signal families
    written; `product_ids` the products whose rows changed (None or empty: not tied to a product);
    `since` the earliest date among the written rows (recent history is rebuilt from there).
    """
    fams = sorted(set(families))
    metrics = sorted(set(metric_ids))
    products = set(product_ids)
    if metrics:
        products |= metric_products(metrics)
    if connection_id is None and source.startswith("conn:"):
        try:
            connection_id = int(source.removeprefix("conn:"))
        except ValueError:
            connection_id = None

    def after_commit() -> None:
        from insights import recompute
        from insights.tasks import queue_recompute
        from productops.core.versions import bump

        bump()
        if connection_id is not None:
            _touch_connection(connection_id)
        if fams:
            recompute.request(fams, products, since=since, metric_ids=metrics, connection_id=connection_id)
            keys = sorted({int(p) if p else recompute.NO_PRODUCT for p in products} or {recompute.NO_PRODUCT})
            queue_recompute(keys)
        log.info(
            "write from %s: families %s, products %s, since %s",
            source,
            fams,
            sorted(map(str, products)),
            since,
        )

    transaction.on_commit(after_commit)


def _touch_connection(connection_id: int) -> None:
    """Data arrived through this connection: it is working now, whatever it said before."""
    from connectors.models import Connection

    now = timezone.now()
    Connection.objects.filter(pk=connection_id).update(
        last_success_at=now, error_streak=0, last_error="", updated_at=now
    )
    from connectors.health import refresh_stale_insight

    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is not None:
        refresh_stale_insight(connection, now)
