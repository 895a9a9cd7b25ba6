"""Writes: score the series, turn events into anomaly and incident Insights, keep a PM's triage."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from django.db.models import Q
from django.utils import timezone

from insights.models import Insight, InsightKind
from insights.services import retire_missing, transition, upsert_insight
from productops.portfolio.models import Product

from . import selectors
from .bands import store_bands
from .detect import detect_many, infer_step
from .events import Event, Incident, drivers, find_events, group_incidents, severity
from .models import SeriesMute
from .selectors import SeriesInfo

log = logging.getLogger(__name__)

# After a sync, only events that end this recently are written (older ones are the nightly run's).
RECENT_WINDOW = timedelta(days=45)
SIGNAL_LABELS = {
    "metric": "Metric",
    "tickets": "Support tickets",
    "csat": "CSAT",
    "nps": "NPS",
    "mentions": "Mentions",
    "kb": "Knowledge base",
    "themes": "Feedback themes",
    "incident": "On-call incident",
}


@dataclass
class DetectionResult:
    series: int = 0
    events: int = 0
    anomalies_written: int = 0
    incidents_written: int = 0
    not_enough_history: list[str] = field(default_factory=list)


def score(frame: pd.DataFrame, infos: dict[str, SeriesInfo]) -> pd.DataFrame:
    """detect_many over every series, one batch per sampling step; keeps the extra columns of `frame`."""
    if frame.empty:
        return frame.assign(expected=[], lower=[], upper=[], score=[], is_anomaly=[])
    steps = {
        sid: infer_step(pd.DatetimeIndex(g["ts"].sort_values())) for sid, g in frame.groupby("series_id")
    }
    frame = frame.assign(step=frame["series_id"].map(steps))
    scored = []
    short: list[str] = []
    for _, group in frame.groupby("step"):
        sens = {sid: infos[sid].sensitivity for sid in group["series_id"].unique() if sid in infos}
        result = detect_many(group[["series_id", "ts", "value"]], sensitivity=sens)
        short += list(result.attrs.get("not_enough_history", []))
        extra = group.drop(columns=["value", "step"])
        scored.append(result.merge(extra, on=["series_id", "ts"], how="left"))
    out = pd.concat(scored, ignore_index=True)
    out.attrs["not_enough_history"] = short
    return out


def _aware(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime().replace(tzinfo=UTC)


def _pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.0f}%".replace("-", "\N{MINUS SIGN}")


def _num(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}"


# Scores (NPS, CSAT, sentiment) move in points; a percentage of a score near zero means nothing.
SCORE_SIGNALS = {"nps", "csat"}


def _is_score(info: SeriesInfo) -> bool:
    return info.signal in SCORE_SIGNALS or info.series_id.startswith("sentiment:")


def change_text(info: SeriesInfo, event: Event) -> str:
    """ "-31%" for volumes, "-12.0 points" for scores (per point of the event)."""
    if _is_score(info):
        return f"{event.size_abs / max(event.points, 1):+.1f} points".replace("-", "\N{MINUS SIGN}")
    return _pct(event.size_pct)


def describe(info: SeriesInfo, event: Event) -> tuple[str, str]:
    when = f"{event.start:%Y-%m-%d}" + (f" to {event.end:%Y-%m-%d}" if event.end != event.start else "")
    title = f"{info.label} {change_text(info, event)} vs expected"
    if _is_score(info) or not info.additive:
        summary = (
            f"{info.label}: averaged {_num(event.actual / event.points)} against "
            f"{_num(event.expected / event.points)} expected ({when})."
        )
    else:
        summary = f"{info.label}: {_num(event.actual)} against {_num(event.expected)} expected ({when})."
    notable = [d for d in event.drivers if d.get("notable")]
    if notable:
        top = notable[0]
        verb = "rise" if event.direction == "up" else "drop"
        summary += f" {top['key']}={top['value']} explains {top['share'] * 100:.0f}% of the {verb}."
        title += f"; {top['key']}={top['value']} explains {top['share'] * 100:.0f}%"
    return title, summary


def _active_mutes() -> tuple[dict[int, SeriesMute], dict[str, SeriesMute]]:
    now = timezone.now()
    mutes = SeriesMute.objects.filter(Q(until__isnull=True) | Q(until__gt=now)).order_by("created_at")
    by_metric = {m.metric_id: m for m in mutes if m.metric_id}
    by_series = {m.series_id: m for m in mutes if m.series_id}
    return by_metric, by_series


def run_detection(
    *,
    metric_ids: Iterable[int] | None = None,
    product_ids: Iterable[int] | None = None,
    include_metrics: bool = True,
    include_derived: bool = True,
    recent_only: bool = False,
) -> DetectionResult:
    """Score the chosen series and write their events as Insights (idempotent)."""
    result = DetectionResult()
    frames, infos = [], {}
    if include_metrics:
        f, i = selectors.metric_series(metric_ids)
        frames.append(f)
        infos.update(i)
    if include_derived:
        f, i = selectors.derived_series(product_ids)
        frames.append(f.assign(dimension_key="", dimension_value=""))
        infos.update(i)
    frames = [f for f in frames if not f.empty]
    if not frames:
        return result
    frame = pd.concat(frames, ignore_index=True)
    frame["dimension_key"] = frame["dimension_key"].fillna("")
    frame["dimension_value"] = frame["dimension_value"].fillna("")
    scored = score(frame, infos)
    result.series = len(infos)
    result.not_enough_history = list(scored.attrs.get("not_enough_history", []))
    events = find_events(scored)
    result.events = len(events)

    # Drivers: the dimension series of the same metric, over the total's window.
    metric_of = scored["series_id"].map(lambda s: infos[s].metric_id if s in infos else None)
    dims = scored[(scored["dimension_key"] != "") & metric_of.notna()].assign(metric_id=metric_of)
    dims_by_metric = {int(k): g for k, g in dims.groupby("metric_id")}
    totals: dict[int, list[Event]] = {}
    for event in events:
        info = infos[event.series_id]
        if info.metric_id is not None and info.is_total:
            event.drivers = drivers(event, dims_by_metric.get(info.metric_id, pd.DataFrame()))
            totals.setdefault(info.metric_id, []).append(event)

    latest = scored["ts"].max()
    cutoff = latest - RECENT_WINDOW if recent_only else None
    teams = _single_teams()
    by_metric_mute, by_series_mute = _active_mutes()
    kept_keys: list[str] = []
    incident_inputs: list[tuple[int, str, Event]] = []
    keys_of: dict[int, str] = {}
    band_rows: list[tuple[int, str, pd.Timestamp, pd.Timestamp]] = []  # the anomaly page's stored band
    for event in events:
        info = infos[event.series_id]
        if cutoff is not None and event.end < cutoff:
            continue
        key = f"{event.series_id}:{event.start:%Y-%m-%d}"
        parent = None
        if info.metric_id is not None and not info.is_total:
            for total in totals.get(info.metric_id, []):
                if total.start <= event.end and event.start <= total.end:
                    parent = f"metric:{info.metric_id}::{total.start:%Y-%m-%d}"
                    break
        title, summary = describe(info, event)
        payload = {
            "series_id": event.series_id,
            "signal": info.signal,
            "label": info.label,
            "metric_id": info.metric_id,
            "dimension_key": info.dimension_key,
            "dimension_value": info.dimension_value,
            "peak": f"{event.peak:%Y-%m-%dT%H:%M}",
            "direction": event.direction,
            "bad_direction": info.bad_direction,
            "size_abs": event.size_abs,
            "size_pct": event.size_pct,
            "actual": event.actual,
            "expected": event.expected,
            "peak_z": event.peak_z,
            "points": event.points,
            "drivers": event.drivers,
            "parent": parent,
        }
        insight, created = upsert_insight(
            InsightKind.ANOMALY,
            key,
            title=title[:500],
            summary=summary,
            severity=severity(event, info.bad_direction),
            score=event.score,
            product_id=info.product_id,
            team_id=teams.get(info.product_id) if info.product_id else None,
            starts_at=_aware(event.start),
            ends_at=_aware(event.end),
            payload=payload,
        )
        kept_keys.append(key)
        band_rows.append((insight.pk, event.series_id, event.start, event.end))
        keys_of[id(event)] = key
        result.anomalies_written += 1
        mute = (by_metric_mute.get(info.metric_id) if info.metric_id else None) or by_series_mute.get(
            event.series_id
        )
        if created and mute is not None:
            transition(insight, "mute", None, comment=f"Muted automatically: {mute}", until=mute.until)
        if info.product_id is not None and parent is None:
            incident_inputs.append((info.product_id, info.signal, event))

    store_bands(scored, band_rows)
    incident_keys = _write_incidents(incident_inputs, keys_of, infos, product_ids, teams)
    result.incidents_written = len(incident_keys)
    if cutoff is None and metric_ids is None and product_ids is None and include_metrics and include_derived:
        retire_missing(InsightKind.ANOMALY, kept_keys)
        retire_missing(InsightKind.INCIDENT, incident_keys)
    return result


def _single_teams() -> dict[int, int]:
    """product id -> team id, where exactly one team owns the product."""
    owners: dict[int, list[int]] = {}
    for product_id, team_id in Product.teams.through.objects.values_list("product_id", "team_id"):
        owners.setdefault(product_id, []).append(team_id)
    return {p: t[0] for p, t in owners.items() if len(t) == 1}


def _write_incidents(
    inputs: list[tuple[int, str, Event]],
    keys_of: dict[int, str],
    infos: dict[str, SeriesInfo],
    product_ids: Iterable[int] | None,
    teams: dict[int, int],
) -> list[str]:
    if not inputs:
        return []
    involved = {pid for pid, _, _ in inputs}
    changes = selectors.changes(involved)
    names = dict(Product.objects.filter(pk__in=involved).values_list("pk", "name"))
    keys = []
    for incident in group_incidents(inputs, changes):
        evidence = [
            {
                "type": "anomaly",
                "signal": signal,
                "label": infos[event.series_id].label,
                "key": keys_of.get(id(event)),
                "start": f"{event.start:%Y-%m-%d}",
                "end": f"{event.end:%Y-%m-%d}",
                "direction": event.direction,
                "size_pct": event.size_pct,
                "change": change_text(infos[event.series_id], event),
            }
            for signal, event in incident.events
        ] + [
            {
                "type": change.kind,
                "signal": change.kind,
                "label": change.label,
                "ref": change.ref,
                "at": f"{pd.Timestamp(change.at):%Y-%m-%d %H:%M}",
            }
            for change in incident.changes
        ]
        story = "; ".join(
            f"{infos[e.series_id].label} {change_text(infos[e.series_id], e)}" for _, e in incident.events
        )
        if incident.changes:
            story += "; shortly after " + ", ".join(c.label for c in incident.changes[:3])
        key = f"incident:{incident.product_id}:{incident.start:%Y-%m-%d}"
        level = max(severity(e, infos[e.series_id].bad_direction) for _, e in incident.events)
        upsert_insight(
            InsightKind.INCIDENT,
            key,
            title=f"Incident in {names.get(incident.product_id, 'a product')}: "
            + ", ".join(SIGNAL_LABELS.get(s, s) for s in incident.signal_types),
            summary=story[:4000],
            severity=min(level + 1, 4),
            score=max(e.score for _, e in incident.events),
            product_id=incident.product_id,
            team_id=teams.get(incident.product_id),
            starts_at=_aware(incident.start),
            ends_at=_aware(incident.end),
            payload={
                "evidence": evidence,
                "signal_types": incident.signal_types,
                "more_changes": _more_changes(incident),
            },
        )
        keys.append(key)
    return keys


def _more_changes(incident: Incident) -> dict[str, Any]:
    """The near-onset changes not shown, as a count by kind and the window to list them all in."""
    kinds: dict[str, int] = {}
    for change in incident.more_changes:
        kinds[change.kind] = kinds.get(change.kind, 0) + 1
    window = [pd.Timestamp(c.at) for c in incident.changes + incident.more_changes]
    return {
        "count": len(incident.more_changes),
        "by_kind": kinds,
        "from": f"{min(window):%Y-%m-%d}" if window else "",
        "to": f"{max(window):%Y-%m-%d}" if window else "",
    }


def mute(insight: Insight, user: Any, comment: str, until: datetime | None, whole_metric: bool) -> None:
    """Mute one insight until a time (or forever); with whole_metric, every future event of its series too."""
    transition(insight, "mute", user, comment=comment, until=until)
    if whole_metric:
        metric_id = insight.payload.get("metric_id")
        series_id = "" if metric_id else str(insight.payload.get("series_id", ""))
        SeriesMute.objects.create(
            metric_id=metric_id, series_id=series_id, until=until, comment=comment, created_by=user
        )
