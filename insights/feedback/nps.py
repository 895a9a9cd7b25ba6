"""NPS per product, segment and period with confidence intervals, and shift insights."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

import pandas as pd
from django.conf import settings

from insights import stats
from insights.kinds import NpsShiftPayload
from insights.models import InsightKind, Severity
from insights.services import retire_missing, upsert_insight
from productops.portfolio.models import Product
from productops.signals.models import NpsResponse
from productops.ui.filters import Filters

from .selectors import scope_products


def min_sample() -> int:
    return int(getattr(settings, "NPS_MIN_SAMPLE", 30))


def category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def responses_frame(filters: Filters | None = None, product_ids: list[int] | None = None) -> pd.DataFrame:

    qs = NpsResponse.objects.all()
    if product_ids:
        qs = qs.filter(product_id__in=product_ids)
    qs = scope_products(qs, filters)
    if filters is not None:
        if filters.segment:
            qs = qs.filter(**{f"segment__{filters.segment[0]}": filters.segment[1]})
        qs = qs.filter(filters.window("submitted_at"))
    rows = list(
        qs.values_list("id", "product_id", "score", "submitted_at", "segment", "comment", "sentiment")
    )
    frame = pd.DataFrame(
        rows, columns=["id", "product_id", "score", "submitted_at", "segment", "comment", "sentiment"]
    )
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
    return frame


def trend(frame: pd.DataFrame, freq: str = "M") -> list[dict[str, Any]]:
    """One NpsResult per period (calendar month by default), oldest first."""
    if frame.empty:
        return []
    periods = frame["submitted_at"].dt.tz_localize(None).dt.to_period(freq)
    out = []
    for period, group in frame.groupby(periods, sort=True):
        out.append(
            {
                "period": period.start_time.tz_localize("UTC").to_pydatetime(),
                "label": str(period),
                "result": stats.nps(group["score"].to_numpy(), min_sample()),
            }
        )
    return out


def shifts(points: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Each period against the one before: significant changes only."""
    found = []
    for before, after in pairwise(points):
        shift = stats.nps_shift(before["result"], after["result"], alpha)
        if shift.significant:
            found.append({"before": before, "after": after, "shift": shift})
    return found


def segment_breakdown(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """NPS per value of every segment attribute present (plan, country, ...)."""
    if frame.empty:
        return []
    seg = pd.json_normalize(frame["segment"].tolist()).set_index(frame.index)
    out = []
    for key in sorted(seg.columns):
        for value, idx in seg.groupby(key).groups.items():
            out.append(
                {
                    "key": key,
                    "value": value,
                    "result": stats.nps(frame.loc[idx, "score"].to_numpy(), min_sample()),
                }
            )
    return out


def recompute_nps_insights(product_ids: list[int] | None = None) -> list[str]:
    """An "nps_shift" insight for each significant period-over-period change (NPS_SHIFT_ALPHA, default
    0.01: monthly comparisons over a year and a half would raise a false alarm at 0.05 about once per
    product)."""
    alpha = float(getattr(settings, "NPS_SHIFT_ALPHA", 0.01))
    freq = getattr(settings, "NPS_PERIOD", "M")
    frame = responses_frame(product_ids=product_ids)
    keys: list[str] = []
    products = Product.objects.in_bulk(frame["product_id"].dropna().unique().tolist())
    for product_id, group in frame.groupby("product_id"):
        product = products.get(int(product_id))
        name = product.name if product else "Unassigned"
        for found in shifts(trend(group, freq), alpha):
            before, after, shift = found["before"], found["after"], found["shift"]
            start: datetime = after["period"]
            key = f"nps:{int(product_id)}:{after['label']}"
            period = pd.Period(pd.Timestamp(start).tz_localize(None), freq)
            direction = "dropped" if shift.delta < 0 else "rose"
            upsert_insight(
                InsightKind.NPS_SHIFT,
                key,
                title=f"{name} NPS {direction} {abs(shift.delta):.0f} points in {after['label']}",
                summary=(
                    f"NPS {before['result'].nps:.0f} → {after['result'].nps:.0f} "
                    f"(95% CI {after['result'].ci_low:.0f} to {after['result'].ci_high:.0f}, "
                    f"n = {after['result'].n}); p = {shift.p_value:.3g}."
                ),
                severity=Severity.HIGH if shift.delta < 0 else Severity.LOW,
                score=abs(shift.z),
                product_id=int(product_id),
                starts_at=start,
                payload=NpsShiftPayload(
                    delta=shift.delta,
                    p_value=shift.p_value,
                    period=after["label"],
                    before=before["result"].nps,
                    after=after["result"].nps,
                    n=after["result"].n,
                    ci_low=after["result"].ci_low,
                    ci_high=after["result"].ci_high,
                    period_start=f"{period.start_time:%Y-%m-%d}",
                    period_end=f"{period.end_time:%Y-%m-%d}",
                ),
            )
            keys.append(key)
    scope: dict[str, Any] = {"product_id__in": product_ids} if product_ids else {}
    retire_missing(InsightKind.NPS_SHIFT, keys, **scope)
    return keys


def comments_by_category(frame: pd.DataFrame, limit: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Recent comments per category, with the theme each belongs to (if any)."""
    from .models import ThemeMember

    out: dict[str, list[dict[str, Any]]] = {"promoter": [], "passive": [], "detractor": []}
    if frame.empty:
        return out
    with_comment = frame[frame["comment"].str.len() > 0].sort_values("submitted_at", ascending=False)
    chosen = (
        pd.concat([g.head(limit) for _, g in with_comment.groupby(with_comment["score"].map(category))])
        if not with_comment.empty
        else with_comment
    )
    themes = {
        oid: name
        for oid, name, custom in ThemeMember.objects.filter(
            source="nps", object_id__in=chosen["id"].tolist()
        ).values_list("object_id", "theme__label", "theme__custom_name")
        for name in [custom or name]
    }
    for row in chosen.itertuples(index=False):
        out[category(int(row.score))].append(
            {
                "score": int(row.score),
                "comment": row.comment,
                "theme": themes.get(row.id),
                "date": row.submitted_at,
            }
        )
    return out
