"""Recompute hooks, and the scoped, coalesced, claimed recompute that runs them.

Each insight family (anomalies, overlaps, feedback...) registers a function with `@on_change`, naming
the signal families it reads. Every write path calls `productops.signals.services.record_write` after
it commits, which calls `request` here: the scope (products x families, a since-date, metric ids) is
merged into `PendingRecompute` rows and `insights.tasks.recompute_pending` is queued. That task, for each
product with pending work, claims the product (`RecomputeClaim`; a product is recomputed by one worker
at a time), takes the product's pending rows and runs the hooks whose families intersect, scoped to that
product. Writes that arrive meanwhile merge into new pending rows, which the claimant runs next, so
concurrent requests for one product coalesce instead of racing. Nightly, `recompute_all` calls every
hook with `full=True` under the claim -1, and scoped work waits for it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.base import FAMILIES as SOURCE_FAMILIES

log = logging.getLogger(__name__)

# The signal families a write can touch: the connectors' families, less "generic" (a generic connection
# writes into whichever family its config names).
FAMILIES = frozenset(SOURCE_FAMILIES) - {"generic"}


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


# --- Pending work, claims and the scoped run --------------------------------------------------------

NO_PRODUCT = 0  # pending work not tied to one product
FULL = -1  # the claim the nightly full recompute holds
CLAIM_TTL = timedelta(minutes=30)  # a claim not refreshed for this long was left by a dead worker


def request(
    families: Iterable[str],
    product_ids: Iterable[int | None] = (),
    *,
    since: datetime | None = None,
    metric_ids: Iterable[int] = (),
    connection_id: int | None = None,
) -> int:
    """Merge a scope into the pending work; returns how many (product, family) rows it touched.

    An empty `product_ids` means the write is not tied to a product (its hooks run unscoped).
    Call inside the writer's transaction or after it; the caller queues the task after commit.
    """
    from .models import PendingRecompute

    fams = sorted(set(families) & FAMILIES)
    keys = sorted({int(p) if p else NO_PRODUCT for p in product_ids} or {NO_PRODUCT})
    metrics = sorted(set(metric_ids))
    touched = 0
    for key in keys:
        for family in fams:
            for _ in range(3):
                try:
                    with transaction.atomic():
                        row = (
                            PendingRecompute.objects.select_for_update()
                            .filter(product_key=key, family=family)
                            .first()
                        )
                        if row is None:
                            PendingRecompute.objects.create(
                                product_key=key,
                                family=family,
                                since=since,
                                metric_ids=metrics,
                                connection_ids=[connection_id] if connection_id else [],
                            )
                        else:
                            if since is not None and (row.since is None or since < row.since):
                                row.since = since
                            row.metric_ids = sorted(set(row.metric_ids) | set(metrics))
                            if connection_id and connection_id not in row.connection_ids:
                                row.connection_ids = sorted([*row.connection_ids, connection_id])
                            row.requested_at = timezone.now()
                            row.save(update_fields=["since", "metric_ids", "connection_ids", "requested_at"])
                    touched += 1
                    break
                except IntegrityError:  # another writer created the row first: merge into it
                    continue
    return touched


class Claim:
    """A product's recompute claim: a row with an owner and an expiry, taken by a conditional write."""

    def __init__(self, product_key: int) -> None:
        self.product_key = product_key
        self.owner = uuid.uuid4().hex
        self.held = False

    def acquire(self) -> bool:
        from .models import RecomputeClaim

        now = timezone.now()
        expires = now + CLAIM_TTL
        taken = RecomputeClaim.objects.filter(product_key=self.product_key, expires_at__lt=now).update(
            owner=self.owner, expires_at=expires
        )
        if not taken:
            try:
                with transaction.atomic():
                    RecomputeClaim.objects.create(
                        product_key=self.product_key, owner=self.owner, expires_at=expires
                    )
                taken = 1
            except IntegrityError:
                return False
        self.held = True
        return True

    def refresh(self) -> None:
        from .models import RecomputeClaim

        RecomputeClaim.objects.filter(product_key=self.product_key, owner=self.owner).update(
            expires_at=timezone.now() + CLAIM_TTL
        )

    def release(self) -> None:
        from .models import RecomputeClaim

        RecomputeClaim.objects.filter(product_key=self.product_key, owner=self.owner).delete()
        self.held = False


def _take(product_key: int) -> RecomputeScope | None:
    """Take (delete) a product's pending rows in one transaction and merge them into one scope."""
    from .models import PendingRecompute

    with transaction.atomic():
        rows = list(PendingRecompute.objects.select_for_update().filter(product_key=product_key))
        if not rows:
            return None
        PendingRecompute.objects.filter(pk__in=[r.pk for r in rows]).delete()
    sinces = [r.since for r in rows if r.since is not None]
    connections = sorted({c for r in rows for c in r.connection_ids})
    return RecomputeScope(
        families={r.family for r in rows},
        connection_id=connections[0] if len(connections) == 1 else None,
        product_ids=set() if product_key == NO_PRODUCT else {product_key},
        metric_ids={m for r in rows for m in r.metric_ids},
        since=min(sinces) if sinces else None,
    )


@dataclass
class PendingResult:
    """What one `run_pending` did: the products it recomputed (0 = unscoped work) and the hooks per product."""

    products: dict[int, list[str]] = field(default_factory=dict)
    busy: list[int] = field(default_factory=list)  # claimed by another worker; it runs them next


def run_pending(product_keys: Iterable[int] | None = None) -> PendingResult:
    """Run the pending work (of the given products, or all), one claimed product at a time."""
    from .models import PendingRecompute, RecomputeClaim

    result = PendingResult()
    if RecomputeClaim.objects.filter(product_key=FULL, expires_at__gte=timezone.now()).exists():
        # The nightly full recompute is running and runs the pending work when it ends.
        return result
    wanted = PendingRecompute.objects.all()
    if product_keys is not None:
        wanted = wanted.filter(product_key__in=list(product_keys))
    for key in sorted(set(wanted.values_list("product_key", flat=True))):
        while True:
            claim = Claim(key)
            if not claim.acquire():
                result.busy.append(key)  # the claimant runs this work (it looks again after releasing)
                break
            try:
                # Writes that land while this runs queue more work for the product: keep going until none.
                while (scope := _take(key)) is not None:
                    done = result.products.setdefault(key, [])
                    done.extend(name for name in run(scope) if name not in done)
                    claim.refresh()
            finally:
                claim.release()
            # A worker that found the claim taken just before the release left its work to us.
            if not PendingRecompute.objects.filter(product_key=key).exists():
                break
    return result


def run_full() -> list[str]:
    """Every hook over everything (nightly), under the full claim; then whatever was requested meanwhile."""
    from .models import PendingRecompute

    claim = Claim(FULL)
    if not claim.acquire():
        log.info("a full recompute is already running; skipping")
        return []
    started = timezone.now()
    try:
        ran = run(RecomputeScope(families=set(), full=True))
        # Work requested before the full run started is done by it; later requests still run.
        PendingRecompute.objects.filter(requested_at__lt=started).delete()
    finally:
        claim.release()
    run_pending()
    return ran
