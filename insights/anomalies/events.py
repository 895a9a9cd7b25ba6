"""From scored points to events, drivers and incidents. Pure pandas: no ORM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .detect import SCORE_HALF, infer_step

# Points flagged with at most this many normal steps between them belong to one event.
MERGE_GAP = 1


@dataclass
class Event:
    series_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    peak: pd.Timestamp
    direction: str  # "up" | "down"
    size_abs: float  # sum of (actual - expected) over the event
    size_pct: float | None  # size_abs / sum(expected)
    actual: float
    expected: float
    peak_z: float
    score: float
    points: int
    drivers: list[dict[str, Any]] = field(default_factory=list)
    step: timedelta = timedelta(days=1)  # the series' sampling step


def z_from_score(score: np.ndarray | float) -> np.ndarray:
    s = np.clip(np.asarray(score, dtype=float), 0.0, 0.999999)
    return np.asarray(SCORE_HALF * np.sqrt(s / (1.0 - s)))


def find_events(scored: pd.DataFrame) -> list[Event]:
    """Merge contiguous anomalous points of each series (long frame from detect_many) into events."""
    if scored.empty or not scored["is_anomaly"].any():
        return []
    frame = scored.sort_values(["series_id", "ts"]).reset_index(drop=True)
    frame["pos"] = frame.groupby("series_id").cumcount()
    hits = frame[frame["is_anomaly"].astype(bool)].copy()
    new_series = hits["series_id"].ne(hits["series_id"].shift())
    gap = hits["pos"].diff().fillna(0) > MERGE_GAP + 1
    hits["event"] = (new_series | gap).cumsum()
    hits["dev"] = hits["value"] - hits["expected"]
    steps = {
        sid: infer_step(pd.DatetimeIndex(g["ts"]))
        for sid, g in frame[frame["series_id"].isin(hits["series_id"].unique())].groupby("series_id")
    }
    events = []
    for _, g in hits.groupby("event", sort=False):
        peak_row = g.loc[g["score"].idxmax()]
        dev = float(g["dev"].sum())
        expected = float(g["expected"].sum())
        events.append(
            Event(
                series_id=str(g["series_id"].iloc[0]),
                start=pd.Timestamp(g["ts"].iloc[0]),
                end=pd.Timestamp(g["ts"].iloc[-1]),
                peak=pd.Timestamp(peak_row["ts"]),
                direction="up" if dev >= 0 else "down",
                size_abs=dev,
                size_pct=dev / abs(expected) if abs(expected) > 1e-12 else None,
                actual=float(g["value"].sum()),
                expected=expected,
                peak_z=float(z_from_score(float(peak_row["score"]))),
                score=float(g["score"].max()),
                points=len(g),
                step=steps[g["series_id"].iloc[0]].to_pytimedelta(),
            )
        )
    return events


def severity(event: Event, bad_direction: str = "both") -> int:
    """0 info .. 4 critical, from the peak deviation and the relative size; good news ranks one lower."""
    pct = abs(event.size_pct or 0.0)
    z = event.peak_z
    if z >= 12 and pct >= 0.3:
        level = 4
    elif z >= 8 or pct >= 0.3:
        level = 3
    elif z >= 5.5 or pct >= 0.1:
        level = 2
    else:
        level = 1
    if bad_direction in ("up", "down") and event.direction != bad_direction:
        level = max(level - 1, 0)
    return level


def drivers(total: Event, parts: pd.DataFrame, top: int = 3) -> list[dict[str, Any]]:
    """Rank dimension values by their share of the total's deviation over the event window.

    ``parts`` is the scored long frame of the dimension series, with columns dimension_key and
    dimension_value beside series_id, ts, value, expected. Share = the part's deviation over the sum of
    the deviations of its dimension, counting only parts that moved the same way as the total.
    ``baseline_share`` is the part's share of the expected value; a driver is ``notable`` when it
    explains clearly more of the change than its size alone would (an all-platform outage has none).
    """
    if parts.empty:
        return []
    window = parts[(parts["ts"] >= total.start) & (parts["ts"] <= total.end)].copy()
    if window.empty:
        return []
    window["dev"] = window["value"] - window["expected"]
    by = (
        window.groupby(["dimension_key", "dimension_value"], sort=False)[["dev", "expected"]]
        .sum()
        .reset_index()
    )
    sign = 1.0 if total.direction == "up" else -1.0
    by["signed"] = by["dev"] * sign
    out: list[dict[str, Any]] = []
    for key, g in by.groupby("dimension_key", sort=False):
        moved = g[g["signed"] > 0]
        denom = float(moved["signed"].sum())
        expected_total = float(g["expected"].abs().sum())
        if denom <= 0:
            continue
        for _, row in moved.sort_values("signed", ascending=False).head(top).iterrows():
            share = float(row["signed"] / denom)
            baseline = float(abs(row["expected"]) / expected_total) if expected_total > 0 else 0.0
            out.append(
                {
                    "key": str(key),
                    "value": str(row["dimension_value"]),
                    "deviation": float(row["dev"]),
                    "share": share,
                    "baseline_share": baseline,
                    "notable": share >= 0.5 and share - baseline >= 0.2,
                }
            )
    out.sort(key=lambda d: -d["share"])
    return out


@dataclass
class Change:
    """A discrete change in a product: a flag change, an experiment start, a release, an on-call incident."""

    kind: str  # flag | experiment | release | incident
    at: datetime
    label: str
    ref: str


@dataclass
class Incident:
    product_id: int
    start: pd.Timestamp
    end: pd.Timestamp
    events: list[tuple[str, Event]]  # (signal type, event), the story's lead first
    changes: list[Change]  # shown: shortly before the onset, best first
    more_changes: list[Change] = field(default_factory=list)  # also near the onset, behind a link

    @property
    def signal_types(self) -> list[str]:
        return sorted({s for s, _ in self.events} | {c.kind for c in self.changes})


# Onsets this close belong to one story: days for daily (or coarser) series, hours for finer ones.
ONSET_WINDOW_DAILY = timedelta(days=3)
ONSET_WINDOW_FINE = timedelta(hours=6)
# Changes this long before an onset can explain it (a daily point covers its whole day, so one step after).
CHANGE_LEAD_DAILY = timedelta(days=2)
CHANGE_LEAD_FINE = timedelta(hours=6)
MAX_INCIDENT_SPAN = timedelta(days=14)


def onset_window(step: timedelta) -> timedelta:
    return max(step, ONSET_WINDOW_DAILY) if step >= timedelta(days=1) else ONSET_WINDOW_FINE


def _dimension(series_id: str) -> str:
    """The dimension part of a series id ("platform=android", "tag=billing"), "" for a total."""
    return series_id.rsplit(":", 1)[-1] if series_id.count(":") >= 2 else ""


def group_incidents(
    events: list[tuple[int, str, Event]],
    changes: list[tuple[int, Change]],
    max_shown: int = 4,
) -> list[Incident]:
    """Group events of one product whose onsets fall close together, across at least two signal types.

    Each group is anchored on its first onset: a later event joins only if it starts within the onset
    window of that anchor (never of the group's last member), so neither a chain of events nor a long or
    open-ended event can stretch an incident; its span is capped at MAX_INCIDENT_SPAN. Evidence: the lead
    event first, then events on the same dimension value, then the rest by score; and the changes that
    happened shortly before the onset (``evidence.select_changes``), at most ``max_shown`` of them.
    """
    from .evidence import select_changes

    by_product: dict[int, list[tuple[str, Event]]] = {}
    for product_id, signal, event in events:
        by_product.setdefault(product_id, []).append((signal, event))
    changes_of: dict[int, list[Change]] = {}
    for product_id, change in changes:
        changes_of.setdefault(product_id, []).append(change)
    incidents = []
    for product_id, items in by_product.items():
        items.sort(key=lambda item: (item[1].start, -item[1].score))
        clusters: list[list[tuple[str, Event]]] = []
        for signal, event in items:
            if clusters:
                anchor = clusters[-1][0][1]
                window = max(onset_window(anchor.step), onset_window(event.step))
                if event.start - anchor.start <= window:
                    clusters[-1].append((signal, event))
                    continue
            clusters.append([(signal, event)])
        for cluster in clusters:
            if len({s for s, _ in cluster}) < 2:
                continue
            anchor = cluster[0][1]
            start = anchor.start
            end = min(max(e.end for _, e in cluster), start + MAX_INCIDENT_SPAN)
            lead = max(cluster, key=lambda item: (item[1].score, -item[1].start.value))
            lead_dim = _dimension(lead[1].series_id)

            def rank(item: tuple[str, Event], lead: tuple[str, Event] = lead, dim: str = lead_dim) -> tuple:
                if item is lead:
                    return (0, 0.0)
                same = bool(dim) and _dimension(item[1].series_id) == dim
                return (1 if same else 2, -item[1].score)

            fine = anchor.step < timedelta(days=1)
            shown, more = select_changes(
                changes_of.get(product_id, []),
                start,
                lead=CHANGE_LEAD_FINE if fine else CHANGE_LEAD_DAILY,
                after=min(anchor.step, timedelta(days=1)),
                limit=max_shown,
            )
            incidents.append(Incident(product_id, start, end, sorted(cluster, key=rank), shown, more))
    return incidents
