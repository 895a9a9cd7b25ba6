"""From scored points to events, drivers and incidents. Pure pandas: no ORM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .detect import SCORE_HALF

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
    events: list[tuple[str, Event]]  # (signal type, event)
    changes: list[Change]

    @property
    def signal_types(self) -> list[str]:
        return sorted({s for s, _ in self.events} | {c.kind for c in self.changes})


def group_incidents(
    events: list[tuple[int, str, Event]],
    changes: list[tuple[int, Change]],
    slack: timedelta = timedelta(days=2),
    lead: timedelta = timedelta(days=3),
) -> list[Incident]:
    """Group events of one product that overlap in time (within ``slack``) across signal types.

    An incident needs anomalies of at least two signal types (a metric dip and a ticket spike, say);
    changes that happened from ``lead`` before its start to its end are attached as evidence.
    """
    by_product: dict[int, list[tuple[str, Event]]] = {}
    for product_id, signal, event in events:
        by_product.setdefault(product_id, []).append((signal, event))
    incidents = []
    for product_id, items in by_product.items():
        items.sort(key=lambda item: item[1].start)
        clusters: list[list[tuple[str, Event]]] = []
        cluster_end: pd.Timestamp | None = None
        for signal, event in items:
            if clusters and cluster_end is not None and event.start <= cluster_end + slack:
                clusters[-1].append((signal, event))
                cluster_end = max(cluster_end, event.end)
            else:
                clusters.append([(signal, event)])
                cluster_end = event.end
        for cluster in clusters:
            if len({s for s, _ in cluster}) < 2:
                continue
            start = min(e.start for _, e in cluster)
            end = max(e.end for _, e in cluster)
            attached = [
                c
                for pid, c in changes
                if pid == product_id and start - lead <= pd.Timestamp(c.at) <= end + timedelta(days=1)
            ]
            incidents.append(Incident(product_id, start, end, cluster, sorted(attached, key=lambda c: c.at)))
    return incidents
