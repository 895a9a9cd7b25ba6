"""Reads for delivery health: the items frame the metrics take, and the roadmap rows.

One query for the items (with each one's baseline target as a subquery), whatever the number of teams.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from django.db.models import FloatField, Func, Q, QuerySet

from productops.portfolio.models import SIZE_POINTS, PortfolioItem

from .metrics import COLUMNS, empty_frame, normalise
from .models import TargetDateChange

FLOW_KINDS = ("story",)  # cycle time, throughput, WIP, stale and backlog count work items
ROADMAP_KINDS = ("initiative", "epic")


class EpochSeconds(Func):
    """A timestamp as seconds since 1970 (a float), computed by the database: loading 100k rows of five
    timestamps each as datetime objects spends seconds in the driver; floats load in milliseconds."""

    output_field = FloatField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        if connection.vendor == "postgresql":
            template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"
        else:  # SQLite stores ISO text; julianday() reads it
            template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return super().as_sql(compiler, connection, template=template, **extra)


TIME_FIELDS = ("started_at", "done_at", "created_at_source", "first_seen_at", "updated_at_source")


def history_ends(item_ids: Any) -> pd.DataFrame:
    """Per item with target-date history: its first (baseline) and last recorded target, indexed by item
    id. One ordered read of the history rows, reduced in pandas: a correlated subquery per item costs
    seconds at 100k items."""
    rows = list(
        TargetDateChange.objects.filter(item_id__in=item_ids)
        .order_by("item_id", "changed_at", "pk")
        .values_list("item_id", "to_date")
    )
    if not rows:
        return pd.DataFrame(columns=["first_to", "last_to"])
    history = pd.DataFrame(rows, columns=["item_id", "to_date"])
    # drop_duplicates, not groupby().last(): a cleared target (None) must count as the last value.
    first = history.drop_duplicates("item_id", keep="first").set_index("item_id")["to_date"]
    last = history.drop_duplicates("item_id", keep="last").set_index("item_id")["to_date"]
    return pd.DataFrame({"first_to": first, "last_to": last})


def estimated_q(prefix: str = "") -> Q:
    """Items with an estimate: story points, or a t-shirt size we can map to points."""
    return Q(**{f"{prefix}estimate_points__isnull": False}) | Q(
        **{f"{prefix}estimate_size__in": list(SIZE_POINTS)}
    )


def items_frame(
    team_ids: Iterable[int] | None = None,
    *,
    product_id: int | None = None,
    kinds: Iterable[str] | None = FLOW_KINDS,
    with_baseline: bool = True,
) -> pd.DataFrame:
    """Current (not gone) items with a team, as the metrics' frame (`metrics.COLUMNS`)."""
    qs: QuerySet[PortfolioItem] = PortfolioItem.objects.filter(is_gone=False, team__isnull=False)
    if team_ids is not None:
        qs = qs.filter(team_id__in=list(team_ids))
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    fields = [
        "id",
        "team_id",
        "kind",
        "status_category",
        "started_at",
        "start_date",
        "done_at",
        "created_at_source",
        "first_seen_at",
        "updated_at_source",
        "estimate_points",
        "estimate_size",
        "target_date",
    ]
    epochs = {f"epoch_{name}": EpochSeconds(name) for name in TIME_FIELDS}
    names = [f"epoch_{f}" if f in TIME_FIELDS else f for f in fields]
    rows = list(qs.annotate(**epochs).values_list(*names))
    if not rows:
        return normalise(empty_frame())
    raw = pd.DataFrame(rows, columns=fields)
    raw["baseline"] = None
    if with_baseline:
        ends = history_ends(qs.values("pk"))
        if not ends.empty:
            raw["baseline"] = raw["id"].map(ends["first_to"]).astype(object)
            raw.loc[raw["baseline"].isna(), "baseline"] = None
    start_dates = (
        pd.to_datetime(raw["start_date"], errors="coerce").dt.tz_localize(UTC).astype("datetime64[us, UTC]")
    )
    sizes = raw["estimate_size"].fillna("").str.upper().map(SIZE_POINTS)
    frame = pd.DataFrame(
        {
            "id": raw["id"],
            "team_id": raw["team_id"],
            "kind": raw["kind"],
            "status_category": raw["status_category"],
            "started": _ts(raw["started_at"]).fillna(start_dates),
            "done_at": _ts(raw["done_at"]),
            "created": _ts(raw["created_at_source"]).fillna(_ts(raw["first_seen_at"])),
            "updated": _ts(raw["updated_at_source"]),
            "points": raw["estimate_points"].astype(float).fillna(sizes),
            "target_date": raw["target_date"],
            "baseline": raw["baseline"],
        }
    )
    return normalise(frame[COLUMNS])


def _ts(values: pd.Series) -> pd.Series:
    """Seconds since 1970 (NaN for none) as UTC timestamps."""
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="s", utc=True).astype(
        "datetime64[us, UTC]"
    )


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
