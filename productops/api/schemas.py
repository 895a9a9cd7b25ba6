"""The API's request and response shapes (pydantic, through django-ninja), one per resource."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Union

from ninja import Field, Schema
from pydantic import create_model

from insights.kinds import KINDS


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str = Field(..., examples=["https://productops.dev/problems/not-found"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


ERRORS: dict[int, Any] = {401: Problem, 403: Problem, 404: Problem, 422: Problem, 429: Problem, 500: Problem}


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page of `item`s with the cursor of the next page."""
    model: type[Schema] = create_model(
        name,
        __base__=Schema,
        items=(list[item], ...),  # type: ignore[valid-type]
        next_cursor=(
            str | None,
            Field(None, description="Pass as ?cursor= for the next page; null at the end."),
        ),
    )
    return model


class ProductOut(Schema):
    id: int
    name: str
    slug: str
    description: str
    teams: list[str] = Field(..., description="Slugs of the teams that own the product.")


class TeamOut(Schema):
    id: int
    name: str
    slug: str
    products: list[str] = Field(..., description="Slugs of the team's products.")


class MetricOut(Schema):
    id: int
    key: str
    name: str
    description: str
    product: str | None = Field(None, description="The product's slug.")
    unit: str
    good_direction: str
    aggregation: str
    dimensions: list[str]


class SeriesPoint(Schema):
    period: date = Field(..., description="The first day of the day, week (Monday) or month.")
    value: float


class SeriesOut(Schema):
    metric: MetricOut
    granularity: Literal["day", "week", "month"]
    start: date = Field(..., alias="from")
    end: date = Field(..., alias="to")
    dimension_key: str
    dimension_value: str
    points: list[SeriesPoint]


# One payload dataclass per insight kind, from the registry (insights/kinds.py).
InsightPayload: Any = Union[tuple(dict.fromkeys(spec.payload for spec in KINDS.values()))]  # noqa: UP007


class InsightOut(Schema):
    id: int
    kind: str
    kind_label: str
    title: str
    summary: str
    severity: int = Field(..., ge=0, le=4)
    severity_label: str
    status: Literal["new", "acknowledged", "resolved", "muted"]
    muted_until: datetime | None
    product: str | None
    team: str | None
    products: list[str]
    teams: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    detected_at: datetime
    updated_at: datetime
    url: str = Field(..., description="The page the insight is about, on this site.")
    payload: InsightPayload = Field(..., description="The kind's typed payload (insights/kinds.py).")


class TriageIn(Schema):
    action: Literal["acknowledge", "resolve", "mute", "reopen"]
    comment: str = Field("", max_length=2000)
    until: date | None = Field(None, description="Mute until this day (UTC); empty: until unmuted.")


class OverlapOut(Schema):
    id: int
    kind: str
    kind_label: str
    score: float
    similarity: float
    explanation: str
    a: str = Field(..., description="The first side: item:<id> or experiment:<id>.")
    b: str
    team_a: str | None
    team_b: str | None
    product: str | None
    decision: str
    overlap_start: date | None
    overlap_end: date | None
    active: bool
    first_seen_at: datetime
    last_seen_at: datetime


class ThemeOut(Schema):
    id: int
    name: str
    product: str | None
    status: str
    size: int
    sentiment: float | None
    recent_volume: int
    previous_volume: float
    change: float
    first_seen: datetime | None
    last_seen: datetime | None


class NpsPeriod(Schema):
    period: str = Field(..., description="The calendar month (YYYY-MM).")
    n: int
    nps: float | None = Field(None, description="Null without responses.")
    promoters: int
    passives: int
    detractors: int
    ci_low: float | None
    ci_high: float | None
    enough: bool = Field(..., description="At least NPS_MIN_SAMPLE responses.")


class NpsOut(Schema):
    product: str | None
    team: str | None
    start: date = Field(..., alias="from")
    end: date = Field(..., alias="to")
    overall: NpsPeriod
    months: list[NpsPeriod]


class ExperimentOut(Schema):
    id: int
    key: str
    name: str
    hypothesis: str
    status: str
    product: str | None
    team: str | None
    started_at: datetime | None
    ended_at: datetime | None
    primary_metric: str
    verdict: str | None = Field(None, description="The latest verdict insight's verdict, if any.")


class PortfolioItemOut(Schema):
    id: int
    external_id: str
    kind: str
    title: str
    team: str | None
    product: str | None
    status: str
    status_category: str
    labels: list[Any]
    start_date: date | None
    target_date: date | None
    done_at: datetime | None
    parent_id: int | None
    url: str
    tracker: str
    assignee: str


class PointIn(Schema):
    ts: datetime
    value: float
    dimension_key: str = Field("", max_length=64)
    dimension_value: str = Field("", max_length=128)


class PointsIn(Schema):
    points: list[PointIn] = Field(..., min_length=1, max_length=5000)


class FeedbackIn(Schema):
    kind: Literal["nps", "tickets", "mentions"] = Field(
        ..., description="What the records are: NPS responses, support tickets or social mentions."
    )
    product: str | None = Field(None, description="The product's slug; empty for none.", max_length=200)
    records: list[dict[str, Any]] = Field(
        ...,
        min_length=1,
        max_length=5000,
        description="Records in the webhook's shape for that family (docs/webhooks.md); `id` is required.",
    )


class WriteOut(Schema):
    inserted: int
    updated: int
    unchanged: int
    recompute: str = Field(..., description="What was queued: the products and families to recompute.")
