"""Experiment verdicts and health checks: frames of cumulative results in, reports out.

ExperimentResult holds cumulative per-variant totals per day, so the latest row of each (variant,
metric) is the experiment so far, and earlier rows replay what the verdict would have said on
earlier days (the peeking check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from insights import stats
from insights.kinds import ExperimentVerdictPayload
from insights.models import InsightKind, Severity
from insights.services import retire_missing, upsert_insight
from productops.signals.models import Experiment, ExperimentResult, ExperimentStatus, Metric, MetricKind

# Metric keys a source may report next to the real metrics: users seen in more than one variant
# (in `conversions`, out of `exposures`). They carry a warning, never a verdict.
MULTIPLE_EXPOSURE_KEYS = {"multiple_exposures", "_multiple_exposures", "multi_exposure"}
MULTIPLE_EXPOSURE_WARN_SHARE = 0.01
PEEKING_DAYS = 7

WINNER, LOSER, INCONCLUSIVE, NOT_ENOUGH = "winner", "loser", "inconclusive", "not enough data"
VERDICT_COLOURS = {WINNER: "#059669", LOSER: "#dc2626", INCONCLUSIVE: "#6b7280", NOT_ENOUGH: "#d97706"}


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass
class MetricVerdict:
    metric_key: str
    kind: str
    variant: str
    control: str
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    lift: float
    lift_low: float
    lift_high: float
    p_value: float
    p_adjusted: float
    verdict: str
    reason: str = ""


@dataclass
class Report:
    experiment: Experiment
    days: int
    verdicts: list[MetricVerdict]
    srm: stats.SrmResult | None
    multiple_exposure_share: float | None = None
    peeking: list[str] = field(default_factory=list)  # the verdicts seen over the last days, if they flipped
    collisions: list[Experiment] = field(default_factory=list)

    @property
    def primary(self) -> MetricVerdict | None:
        key = self.experiment.primary_metric
        ranked = [v for v in self.verdicts if v.metric_key == key] or self.verdicts
        order = {WINNER: 0, LOSER: 1, INCONCLUSIVE: 2, NOT_ENOUGH: 3}
        return (
            min(ranked, key=lambda v: (order[v.verdict], v.p_adjusted if not math.isnan(v.p_adjusted) else 9))
            if ranked
            else None
        )

    @property
    def verdict(self) -> str:
        primary = self.primary
        return primary.verdict if primary else NOT_ENOUGH

    @property
    def health(self) -> list[dict[str, str]]:
        badges = []
        if self.srm and self.srm.flagged:
            badges.append(
                {
                    "label": "Sample-ratio mismatch",
                    "level": "bad",
                    "text": f"Exposures {self.srm.observed} do not fit the configured split "
                    f"(chi-square p = {self.srm.p_value:.1e}); do not trust the verdict.",
                }
            )
        if (
            self.multiple_exposure_share is not None
            and self.multiple_exposure_share > MULTIPLE_EXPOSURE_WARN_SHARE
        ):
            badges.append(
                {
                    "label": "Multiple exposures",
                    "level": "warn",
                    "text": f"{self.multiple_exposure_share:.1%} of users saw more than one variant.",
                }
            )
        if self.peeking:
            badges.append(
                {
                    "label": "Verdict flipped",
                    "level": "warn",
                    "text": f"The verdict changed over the last {PEEKING_DAYS} days ("
                    + " → ".join(self.peeking)
                    + "); stopping now would be peeking.",
                }
            )
        for other in self.collisions:
            badges.append(
                {
                    "label": "Collision",
                    "level": "warn",
                    "text": f"“{other.name}” runs on the same surface ({other.surface}) at the same time.",
                }
            )
        if not badges:
            badges.append(
                {"label": "Healthy", "level": "ok", "text": "No sample-ratio mismatch or other warnings."}
            )
        return badges


def _latest(frame: pd.DataFrame, as_of: date | None = None) -> pd.DataFrame:
    if as_of is not None:
        frame = frame[frame["date"] <= as_of]
    if frame.empty:
        return frame
    idx = frame.groupby(["variant", "metric_key"])["date"].idxmax()
    return frame.loc[idx]


def compare(
    frame: pd.DataFrame,
    control: str,
    good_direction: dict[str, str] | None = None,
    as_of: date | None = None,
    min_days: int | None = None,
    min_sample: int | None = None,
    alpha: float | None = None,
) -> tuple[list[MetricVerdict], int]:
    """Every non-control variant against the control on every metric, Holm-corrected across all of
    those comparisons. frame columns: variant, metric_key, kind, date, exposures, conversions,
    value_sum, value_sum_squares (cumulative). Returns (verdicts, days of data)."""
    if frame.empty:
        return [], 0
    return _compare_records(_records(frame), control, good_direction, as_of, min_days, min_sample, alpha)


RECORD_COLUMNS = [
    "variant",
    "metric_key",
    "kind",
    "date",
    "exposures",
    "conversions",
    "value_sum",
    "value_sum_squares",
]


def _records(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The frame's rows as plain tuples (RECORD_COLUMNS), without the multiple-exposure rows: verdicts
    are replayed day by day over them, which plain Python does in microseconds per replay."""
    real = frame[~frame["metric_key"].isin(MULTIPLE_EXPOSURE_KEYS)]
    return list(real[RECORD_COLUMNS].itertuples(index=False, name=None))


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    number = float(value)
    return 0.0 if math.isnan(number) else number


def _compare_records(
    records: list[tuple[Any, ...]],
    control: str,
    good_direction: dict[str, str] | None = None,
    as_of: date | None = None,
    min_days: int | None = None,
    min_sample: int | None = None,
    alpha: float | None = None,
) -> tuple[list[MetricVerdict], int]:
    min_days = min_days if min_days is not None else _setting("EXPERIMENT_MIN_DAYS", 3)
    min_sample = min_sample if min_sample is not None else _setting("EXPERIMENT_MIN_SAMPLE", 100)
    alpha = alpha if alpha is not None else _setting("EXPERIMENT_ALPHA", 0.05)
    good_direction = good_direction or {}
    if as_of is not None:
        records = [r for r in records if r[3] <= as_of]
    if not records:
        return [], 0
    dates = [r[3] for r in records]
    days = int((max(dates) - min(dates)).days) + 1
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for r in records:  # the latest (cumulative) row of each variant and metric; first one wins a tie
        key = (r[0], r[1])
        if key not in latest or r[3] > latest[key][3]:
            latest[key] = r
    variants = sorted({v for v, _ in latest})
    out: list[MetricVerdict] = []
    for metric_key in sorted({m for _, m in latest}):
        if (control, metric_key) not in latest:
            continue
        c = latest[(control, metric_key)]
        for variant in variants:
            if variant == control or (variant, metric_key) not in latest:
                continue
            t = latest[(variant, metric_key)]
            n_c, n_t = int(_num(c[4])), int(_num(t[4]))
            kind = str(c[2])
            reason = ""
            if n_c < 2 or n_t < 2:
                comp = None
            elif kind == MetricKind.CONVERSION:
                comp = stats.two_proportion_ztest(int(_num(c[5])), n_c, int(_num(t[5])), n_t)
            else:
                comp = stats.welch_from_sums(n_c, _num(c[6]), _num(c[7]), n_t, _num(t[6]), _num(t[7]))
            if days < min_days:
                reason = f"{days} day(s) of data; needs {min_days}"
            elif min(n_c, n_t) < min_sample:
                reason = f"{min(n_c, n_t)} exposures in the smallest arm; needs {min_sample}"
            nan = math.nan
            out.append(
                MetricVerdict(
                    metric_key,
                    kind,
                    variant,
                    control,
                    n_c,
                    n_t,
                    comp.control_mean if comp else nan,
                    comp.treatment_mean if comp else nan,
                    comp.lift if comp else nan,
                    comp.lift_low if comp else nan,
                    comp.lift_high if comp else nan,
                    comp.p_value if comp else nan,
                    nan,
                    NOT_ENOUGH if (reason or comp is None) else INCONCLUSIVE,
                    reason or ("too few exposures" if comp is None else ""),
                )
            )
    adjusted = stats.holm([v.p_value for v in out])
    for v, p_adj in zip(out, adjusted, strict=True):
        v.p_adjusted = p_adj
        if v.verdict == NOT_ENOUGH or math.isnan(p_adj):
            continue
        if p_adj < alpha and not math.isnan(v.lift):
            better = v.lift > 0 if good_direction.get(v.metric_key, "up") != "down" else v.lift < 0
            v.verdict = WINNER if better else LOSER
    return out, days


def results_frame(experiment_ids: list[int]) -> pd.DataFrame:
    rows = ExperimentResult.objects.filter(experiment_id__in=experiment_ids).values_list(
        "experiment_id",
        "variant__key",
        "metric_key",
        "kind",
        "date",
        "exposures",
        "conversions",
        "value_sum",
        "value_sum_squares",
    )
    return pd.DataFrame(
        list(rows),
        columns=[
            "experiment_id",
            "variant",
            "metric_key",
            "kind",
            "date",
            "exposures",
            "conversions",
            "value_sum",
            "value_sum_squares",
        ],
    )


def collisions(experiments: list[Experiment]) -> dict[int, list[Experiment]]:
    """Experiments on the same product and surface whose date windows overlap."""
    now = timezone.now()
    found: dict[int, list[Experiment]] = {}
    active = [e for e in experiments if e.surface and e.started_at]
    for i, a in enumerate(active):
        for b in active[i + 1 :]:
            if a.product_id != b.product_id or a.surface.strip().lower() != b.surface.strip().lower():
                continue
            a_end, b_end = a.ended_at or now, b.ended_at or now
            if a.started_at < b_end and b.started_at < a_end:  # type: ignore[operator]
                found.setdefault(a.pk, []).append(b)
                found.setdefault(b.pk, []).append(a)
    return found


def build_reports(experiments: QuerySet[Experiment] | list[Experiment]) -> list[Report]:
    """Verdicts and health for many experiments with a fixed number of queries."""
    experiments = list(experiments)
    if not experiments:
        return []
    frame = results_frame([e.pk for e in experiments])
    variants: dict[int, list[Any]] = {}
    for e in experiments:
        variants[e.pk] = list(e.variants.all())
    directions = {
        (m.product_id, m.key): m.good_direction
        for m in Metric.objects.filter(key__in=frame["metric_key"].unique().tolist())
    }
    hits = collisions(experiments)
    reports = []
    for e in experiments:
        part = frame[frame["experiment_id"] == e.pk]
        vs = variants[e.pk]
        control = next((v.key for v in vs if v.is_control), vs[0].key if vs else "control")
        good = {k: d for (pid, k), d in directions.items() if pid in (e.product_id, None)}
        verdicts, days = compare(part, control, good)
        report = Report(
            e,
            days,
            verdicts,
            _srm(e, vs, part),
            _multiple_exposure(part),
            _peeking(e, part, control, good),
            hits.get(e.pk, []),
        )
        reports.append(report)
    return reports


def _srm(e: Experiment, variants: list[Any], frame: pd.DataFrame) -> stats.SrmResult | None:
    real = frame[~frame["metric_key"].isin(MULTIPLE_EXPOSURE_KEYS)]
    if real.empty or len(variants) < 2:
        return None
    latest = _latest(real)
    if e.primary_metric and (latest["metric_key"] == e.primary_metric).any():
        latest = latest[latest["metric_key"] == e.primary_metric]
    exposures = latest.groupby("variant")["exposures"].max()
    split = e.traffic_split or {}
    keys = [v.key for v in variants if v.key in exposures.index]
    if len(keys) < 2:
        return None
    weights = [float(split.get(k, next(v.weight for v in variants if v.key == k))) for k in keys]
    return stats.srm_check([int(exposures[k]) for k in keys], weights)


def _multiple_exposure(frame: pd.DataFrame) -> float | None:
    part = frame[frame["metric_key"].isin(MULTIPLE_EXPOSURE_KEYS)]
    if part.empty:
        return None
    latest = _latest(part)
    total = float(latest["exposures"].sum())
    return float(latest["conversions"].fillna(0).sum()) / total if total else None


def _peeking(e: Experiment, frame: pd.DataFrame, control: str, good: dict[str, str]) -> list[str]:
    """The primary verdict replayed over the last PEEKING_DAYS days; returned only if it flipped
    between winner / loser / inconclusive."""
    records = _records(frame)
    if not records:
        return []
    dates = sorted({r[3] for r in records})[-PEEKING_DAYS:]
    seen: list[str] = []
    for day in dates:
        verdicts, _ = _compare_records(records, control, good, as_of=day)
        chosen = [v for v in verdicts if v.metric_key == e.primary_metric] or verdicts
        if not chosen:
            continue
        verdict = chosen[0].verdict
        if verdict != NOT_ENOUGH and (not seen or seen[-1] != verdict):
            seen.append(verdict)
    return seen if len(seen) > 1 else []


def recompute_experiment_insights() -> list[str]:
    """One "experiment_verdict" insight per experiment with a verdict or a health problem."""
    experiments = Experiment.objects.exclude(status=ExperimentStatus.DRAFT).prefetch_related("variants")
    keys = []
    for report in build_reports(experiments):
        e = report.experiment
        primary = report.primary
        srm_bad = bool(report.srm and report.srm.flagged)
        if not srm_bad and report.verdict in (INCONCLUSIVE, NOT_ENOUGH) and not report.peeking:
            continue
        key = f"experiment:{e.source_key}:{e.external_id}"
        if srm_bad:
            title = f"{e.name}: sample-ratio mismatch, the verdict cannot be trusted"
            severity = Severity.HIGH
        elif primary and report.verdict in (WINNER, LOSER):
            word = "wins" if report.verdict == WINNER else "loses"
            title = f"{e.name}: {primary.variant} {word} on {primary.metric_key} ({primary.lift:+.1%})"
            severity = Severity.MEDIUM
        else:
            title = f"{e.name}: the verdict flipped recently"
            severity = Severity.LOW
        upsert_insight(
            InsightKind.EXPERIMENT_VERDICT,
            key,
            title=title,
            summary=" ".join(b["text"] for b in report.health if b["level"] != "ok"),
            severity=severity,
            score=float(-math.log10(max(primary.p_adjusted, 1e-300)))
            if primary and not math.isnan(primary.p_adjusted)
            else 0.0,
            product_id=e.product_id,
            team_id=e.team_id,
            starts_at=e.started_at,
            ends_at=e.ended_at,
            payload=_payload(report),
        )
        keys.append(key)
    retire_missing(InsightKind.EXPERIMENT_VERDICT, keys)
    return keys


def _clean(value: float) -> float | None:
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)
    )


def _payload(report: Report) -> ExperimentVerdictPayload:
    return ExperimentVerdictPayload(
        experiment_id=report.experiment.pk,
        verdict=report.verdict,
        srm={"p_value": report.srm.p_value, "flagged": report.srm.flagged, "observed": report.srm.observed}
        if report.srm
        else None,
        peeking=report.peeking,
        multiple_exposure_share=report.multiple_exposure_share,
        collisions=[o.pk for o in report.collisions],
        metrics=[
            {
                "metric": v.metric_key,
                "variant": v.variant,
                "lift": _clean(v.lift),
                "low": _clean(v.lift_low),
                "high": _clean(v.lift_high),
                "p": _clean(v.p_value),
                "p_adjusted": _clean(v.p_adjusted),
                "verdict": v.verdict,
            }
            for v in report.verdicts
        ],
    )
