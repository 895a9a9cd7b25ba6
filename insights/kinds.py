"""The insight-kind registry: one contract per kind, shared by every producer and every reader.

Each kind names its label, its weight in the digest's ranking, the digest section it appears in, the
typed payload its producer writes, and how to build the URL of its *target* (the theme, the experiment,
the overlap pair, the connection...) from the target object, never from the insight's own id, unless
the insight is itself the page (an anomaly or incident detail).

Producers build the payload dataclass and store `payload.as_dict()`; readers call `payload_of(insight)`
and `target_url(insight)`. Adding a kind is one `register()` call here (and a choice in `InsightKind`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.urls import reverse

from .models import Insight, InsightKind

P = TypeVar("P", bound="Payload")


@dataclass
class Payload:
    """Base of every typed payload. Unknown keys in a stored payload are kept in `extra`, not lost."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls: type[P], data: Mapping[str, Any] | None) -> P:
        data = data if isinstance(data, Mapping) else {}
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        rest = {k: v for k, v in data.items() if k not in names}
        try:
            return cls(**known, extra=rest)
        except TypeError:  # a row written before a required field existed: keep what we can read
            return cls(extra=dict(data))

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **out}

    # What the digest shows beside the title; each kind fills in what it knows.
    def why(self) -> str:
        return ""

    def quote(self) -> str:
        return ""

    def ci(self) -> str:
        return ""


@dataclass
class AnomalyPayload(Payload):
    series_id: str = ""
    signal: str = ""
    label: str = ""
    metric_id: int | None = None
    dimension_key: str = ""
    dimension_value: str = ""
    peak: str = ""
    direction: str = ""
    bad_direction: str = ""
    size_abs: float | None = None
    size_pct: float | None = None
    actual: float | None = None
    expected: float | None = None
    peak_z: float | None = None
    points: int = 0
    drivers: list[dict[str, Any]] = field(default_factory=list)
    parent: str | None = None

    def why(self) -> str:
        parts = []
        for d in self.drivers[:3]:
            if not isinstance(d, Mapping):
                continue
            label = f"{d.get('key', '')} = {d.get('value', '')}".strip(" =")
            share = d.get("share")
            parts.append(
                f"{label} ({float(share):.0%} of the change)" if isinstance(share, int | float) else label
            )
        parts = [p for p in parts if p]
        return "Driven by " + ", ".join(parts) if parts else ""


@dataclass
class IncidentPayload(Payload):
    evidence: list[dict[str, Any]] = field(default_factory=list)
    signal_types: list[str] = field(default_factory=list)

    def why(self) -> str:
        changes = [e.get("label", "") for e in self.evidence if e.get("type") != "anomaly" and e.get("label")]
        return "Around " + ", ".join(changes[:3]) if changes else ""


@dataclass
class OverlapPayload(Payload):
    pair_id: int | None = None
    kind: str = ""
    a: str = ""
    b: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # the pair's evidence (shared terms, dates...)


@dataclass
class ThemePayload(Payload):
    theme_id: int | None = None
    series_id: str = ""
    value: float = 0
    baseline: float = 0
    quotes: list[str] = field(default_factory=list)

    def quote(self) -> str:
        text = next((q.strip() for q in self.quotes if isinstance(q, str) and q.strip()), "")
        return text if len(text) <= 240 else text[:237] + "…"


@dataclass
class NpsShiftPayload(Payload):
    delta: float = 0
    p_value: float | None = None
    period: str = ""
    before: float | None = None
    after: float | None = None
    n: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    period_start: str = ""  # ISO dates of the period the shift is in, for the link to the NPS page
    period_end: str = ""

    def ci(self) -> str:
        if isinstance(self.ci_low, int | float) and isinstance(self.ci_high, int | float):
            return f"95% CI of NPS {self.ci_low:.0f} to {self.ci_high:.0f}"
        return ""


@dataclass
class ExperimentVerdictPayload(Payload):
    experiment_id: int | None = None
    verdict: str = ""
    srm: dict[str, Any] | None = None
    peeking: list[str] = field(default_factory=list)
    multiple_exposure_share: float | None = None
    collisions: list[int] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def ci(self) -> str:
        for m in self.metrics:
            low, high = m.get("low"), m.get("high")
            if isinstance(low, int | float) and isinstance(high, int | float):
                return f"{m.get('metric', '')} lift 95% CI {low:+.1%} to {high:+.1%}".strip()
        return ""


@dataclass
class StaleConnectorPayload(Payload):
    connection_id: int | None = None
    connection_name: str = ""
    last_success_at: str | None = None
    expected_every_s: int | None = None

    def why(self) -> str:
        when = self.last_success_at[:16].replace("T", " ") if self.last_success_at else "never"
        return f"Last successful sync: {when}"


@dataclass
class ConnectorAttentionPayload(Payload):
    connection_id: int | None = None
    kind: str = ""


@dataclass
class GoalAtRiskPayload(Payload):
    key_result_id: int | None = None
    objective_id: int | None = None
    objective: str = ""
    start_value: float | None = None
    target: float | None = None
    projected: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    period_end: str = ""
    level: float = 0.95

    def why(self) -> str:
        return f"Objective: {self.objective}" if self.objective else ""

    def ci(self) -> str:
        nums = (self.projected, self.low, self.high, self.target)
        if not all(isinstance(x, int | float) for x in nums):
            return ""
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"Projected {self.projected:,.4g}{unit} by {self.period_end} ({self.level:.0%} interval "
            f"{self.low:,.4g} to {self.high:,.4g}); target {self.target:,.4g}{unit}"
        )


@dataclass
class RedundantResearchPayload(Payload):
    """Two teams' studies asking the same question in the same quarter."""

    study_a_id: int | None = None
    study_b_id: int | None = None
    study_a: str = ""
    study_b: str = ""
    team_a: str = ""
    team_b: str = ""
    quarter: str = ""
    similarity: float = 0
    shared_terms: list[str] = field(default_factory=list)
    shared_tags: list[str] = field(default_factory=list)

    def why(self) -> str:
        shared = self.shared_tags or self.shared_terms
        who = f"{self.team_a} and {self.team_b}" if self.team_a and self.team_b else "Two teams"
        return f"{who}, {self.quarter}" + (f"; both about {', '.join(shared[:4])}" if shared else "")


@dataclass
class CompetitorSpikePayload(Payload):
    """A competitor's weekly mention volume far above its own usual weeks."""

    competitor_id: int | None = None
    competitor: str = ""
    slug: str = ""
    week: str = ""  # ISO date of the Monday
    value: float = 0
    baseline: float = 0
    z: float = 0
    quotes: list[str] = field(default_factory=list)

    def why(self) -> str:
        return f"{self.value:.0f} mentions in the week of {self.week}, against a usual {self.baseline:.0f}"

    def quote(self) -> str:
        text = next((q.strip() for q in self.quotes if isinstance(q, str) and q.strip()), "")
        return text if len(text) <= 240 else text[:237] + "…"


@dataclass
class DeliverySlipPayload(Payload):
    item_id: int | None = None
    item_title: str = ""
    item_kind: str = ""
    team_id: int | None = None
    team: str = ""
    baseline: str = ""  # ISO date: the first target productops saw
    target: str = ""  # ISO date: the current target
    slip_days: int = 0
    moves: int = 0  # how many times the target moved
    status: str = ""

    def why(self) -> str:
        moved = f", moved {self.moves} time{'s' if self.moves != 1 else ''}" if self.moves else ""
        return f"Target {self.baseline} → {self.target} (+{self.slip_days} days{moved})"


@dataclass
class CycleTimeJumpPayload(Payload):
    team_id: int | None = None
    team: str = ""
    recent_median_days: float = 0
    base_median_days: float = 0
    recent_n: int = 0
    base_n: int = 0
    recent_from: str = ""  # ISO dates of the recent window (to is exclusive)
    recent_to: str = ""

    def why(self) -> str:
        return (
            f"Median cycle time {self.recent_median_days:.1f} days over the last 4 weeks "
            f"({self.recent_n} items) against {self.base_median_days:.1f} days in the 12 weeks before "
            f"({self.base_n} items)"
        )


@dataclass
class MetricThresholdPayload(Payload):
    """Written by an alert rule's metric threshold (productops/alerts/thresholds.py)."""

    rule_id: int | None = None
    metric_id: int | None = None
    metric: str = ""
    comparator: str = ""  # "above" or "below"
    threshold: float | None = None
    value: float | None = None
    day: str = ""  # ISO day of the latest value
    since: str = ""  # ISO day the breach began
    recent: list[list[Any]] = field(default_factory=list)  # [[ISO day, value], ...], the last weeks

    def why(self) -> str:
        if self.value is None or self.threshold is None:
            return ""
        word = "above" if self.comparator == "above" else "below"
        return f"{self.metric}: {self.value:,.4g} on {self.day}, {word} the threshold {self.threshold:,.4g}"


# --- Targets: the page of the object an insight is about -----------------------------------------------


def _path(name: str, args: list[Any] | None = None, query: Mapping[str, Any] | None = None) -> str:
    path = reverse(name, args=args or [])
    clean = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def _self_page(insight: Insight, _payload: Payload) -> str:
    """Anomalies and incidents are their own page: the detail of the insight."""
    return _path("insights:detail", [insight.pk])


def _overlap_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, OverlapPayload)
    if payload.pair_id:
        return _path("overlaps:portfolio", query={"pair": payload.pair_id, "decision": "all"})
    return _path("overlaps:portfolio")


def _theme_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, ThemePayload)
    if payload.theme_id:
        return _path("feedback:theme", [payload.theme_id])
    return _path("feedback:themes", query={"product": insight.product.slug if insight.product else ""})


def _nps_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, NpsShiftPayload)
    product = insight.product.slug if insight.product_id and insight.product else ""
    return _path(
        "feedback:nps", query={"product": product, "from": payload.period_start, "to": payload.period_end}
    )


def _experiment_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, ExperimentVerdictPayload)
    if payload.experiment_id:
        return _path("feedback:experiment", [payload.experiment_id])
    return _path("feedback:experiments")


def _connection_target(insight: Insight, payload: Payload) -> str:
    connection_id = getattr(payload, "connection_id", None)
    if isinstance(connection_id, int):
        return _path("connectors:detail", [connection_id])
    return _path("connectors:list")


def _key_result_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, GoalAtRiskPayload)
    if payload.key_result_id:
        return _path("goals:key_result", [payload.key_result_id])
    return _path("goals:index", query={"status": "at_risk"})


def _redundant_research_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, RedundantResearchPayload)
    if payload.study_a_id and payload.study_b_id:
        return _path("research:compare", [payload.study_a_id, payload.study_b_id])
    return _path("research:index")


def _competitor_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, CompetitorSpikePayload)
    if payload.slug:
        week = payload.week
        end = ""
        if week:
            from datetime import date, timedelta

            end = (date.fromisoformat(week) + timedelta(days=6)).isoformat()
        return _path("competitors:detail", [payload.slug], query={"from": week, "to": end})
    return _path("competitors:index")


def _slip_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, DeliverySlipPayload)
    if payload.item_id:
        return _path("delivery:item", [payload.item_id])
    return _path("delivery:roadmap")


def _cycle_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, CycleTimeJumpPayload)
    team = insight.team.slug if insight.team_id and insight.team else ""
    return _path("delivery:health", query={"team": team, "range": "180d"})


def _metric_target(insight: Insight, payload: Payload) -> str:
    assert isinstance(payload, MetricThresholdPayload)
    product = insight.product.slug if insight.product_id and insight.product else ""
    return _path("dashboards:explorer", query={"metric": payload.metric_id, "product": product})


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str
    weight: int  # the digest's ranking: a step of the kind outweighs recency plus score (see digests)
    section: str  # digest section key (SECTIONS), or "connectors" for the lead's connector list
    payload: type[Payload]
    target: Callable[[Insight, Payload], str]
    lead_only: bool = False


# Digest sections, in the order the digest shows them.
SECTIONS: list[tuple[str, str]] = [
    ("incidents", "Incidents and anomalies"),
    ("nps", "NPS"),
    ("themes", "Rising feedback themes"),
    ("overlaps", "Cross-team overlaps"),
    ("experiments", "Experiments"),
    ("goals", "Goals at risk"),
    ("competitors", "Competitors"),
    ("delivery", "Delivery"),
]

KINDS: dict[str, KindSpec] = {}


def register(spec: KindSpec) -> KindSpec:
    if spec.kind not in InsightKind.values:
        raise ValueError(f"{spec.kind!r} is not an InsightKind")
    if spec.section not in {key for key, _ in SECTIONS} | {"connectors"}:
        raise ValueError(f"unknown digest section {spec.section!r}")
    KINDS[spec.kind] = spec
    return spec


register(KindSpec("incident", "Incident", 50, "incidents", IncidentPayload, _self_page))
register(KindSpec("anomaly", "Anomaly", 30, "incidents", AnomalyPayload, _self_page))
register(
    KindSpec(
        "experiment_verdict",
        "Experiment verdict",
        20,
        "experiments",
        ExperimentVerdictPayload,
        _experiment_target,
    )
)
register(KindSpec("nps_shift", "NPS shift", 20, "nps", NpsShiftPayload, _nps_target))
register(KindSpec("goal_at_risk", "Key result at risk", 25, "goals", GoalAtRiskPayload, _key_result_target))
register(KindSpec("delivery_slip", "Delivery slip", 18, "delivery", DeliverySlipPayload, _slip_target))
register(KindSpec("cycle_time_jump", "Cycle time jump", 18, "delivery", CycleTimeJumpPayload, _cycle_target))
register(
    KindSpec("metric_threshold", "Metric threshold", 28, "incidents", MetricThresholdPayload, _metric_target)
)
register(KindSpec("overlap", "Overlap", 15, "overlaps", OverlapPayload, _overlap_target))
register(KindSpec("theme", "Feedback theme", 10, "themes", ThemePayload, _theme_target))
register(
    KindSpec(
        "redundant_research",
        "Redundant research",
        15,
        "overlaps",
        RedundantResearchPayload,
        _redundant_research_target,
    )
)
register(
    KindSpec(
        "competitor_spike",
        "Competitor mentions spike",
        12,
        "competitors",
        CompetitorSpikePayload,
        _competitor_target,
    )
)
register(
    KindSpec(
        "connector_attention",
        "Connector needs attention",
        5,
        "connectors",
        ConnectorAttentionPayload,
        _connection_target,
        lead_only=True,
    )
)
register(
    KindSpec(
        "stale_connector",
        "Stale connector",
        5,
        "connectors",
        StaleConnectorPayload,
        _connection_target,
        lead_only=True,
    )
)


class UnknownKind(KeyError):
    pass


def spec_of(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownKind(kind) from None


def payload_of(insight: Insight) -> Payload:
    """The insight's payload as its kind's dataclass."""
    return spec_of(insight.kind).payload.from_dict(insight.payload)


def target_url(insight: Insight) -> str:
    """The site path of the page the insight is about (relative; the digest makes it absolute)."""
    spec = spec_of(insight.kind)
    return spec.target(insight, spec.payload.from_dict(insight.payload))


def kinds_in_section(section: str) -> tuple[str, ...]:
    return tuple(k for k, spec in KINDS.items() if spec.section == section)
