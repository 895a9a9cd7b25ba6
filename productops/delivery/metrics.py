"""Delivery metrics as plain functions of an items frame: no ORM, so a hand-computed fixture tests them.

The frame has one row per portfolio item (`selectors.items_frame`), with the columns in `COLUMNS`:
times are UTC-aware pandas timestamps (NaT when unknown), `points` is the item's own estimate in story
points (NaN when unestimated), `baseline` the first target date productops saw (None without history).

Definitions (docs/delivery.md explains them to PMs):
- cycle time: from `started` (the tracker's start, else when first seen in progress, else the item's
  start date) to `done_at`, in days; items done without a known start have none;
- throughput: items done per ISO week (Monday to Sunday, UTC);
- WIP: items in progress now;
- stale: in progress with no activity (tracker update, else start) for `STALE_DAYS` days before `as_of`;
- slipped: current target date later than the baseline, by that many days;
- backlog: items to do; age from creation (the tracker's, else first seen) to `as_of`; the share of them
  without an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

COLUMNS = [
    "id",
    "team_id",
    "kind",
    "status_category",
    "started",
    "done_at",
    "created",
    "updated",
    "points",
    "target_date",
    "baseline",
]
STALE_DAYS = 14
JUMP_RECENT_DAYS = 28  # the recent window of a cycle-time jump ...
JUMP_BASE_DAYS = 84  # ... against the twelve weeks before it
JUMP_MIN_ITEMS = 5
JUMP_RATIO = 1.5
JUMP_MIN_DAYS = 2.0


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce")


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce the frame's types once (the selector and test fixtures both pass through here)."""
    out = frame.copy()
    for col in ("started", "done_at", "created", "updated"):
        out[col] = _utc(out[col]) if len(out) else pd.Series(dtype="datetime64[ns, UTC]")
    out["points"] = pd.to_numeric(out["points"], errors="coerce").astype(float)
    return out


def as_of(frame: pd.DataFrame, now: datetime) -> pd.Timestamp:
    """The moment the metrics describe: the newest tracker activity, never later than `now`. A tracker
    that stopped syncing last month then shows last month's picture, not everything gone stale."""
    now_ts = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    if frame.empty:
        return now_ts
    latest = pd.concat([frame["updated"], frame["done_at"], frame["started"]]).dropna()
    latest = latest[latest <= now_ts]
    return latest.max() if len(latest) else now_ts


def cycle_days(frame: pd.DataFrame) -> pd.Series:
    """Days from start to done for done items with a known start (NaN otherwise, never negative)."""
    days = (frame["done_at"] - frame["started"]).dt.total_seconds() / 86400.0
    done = frame["status_category"] == "done"
    return days.where(done & (days >= 0))


def week_start(ts: pd.Series) -> pd.Series:
    """The Monday (a date) of each timestamp's ISO week, in UTC."""
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    return (naive - pd.to_timedelta(naive.dt.day_of_week, unit="D")).dt.date


def weekly_flow(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Throughput and cycle time per team and week, zero-filled over [start, end]'s weeks.

    Columns: team_id, week (Monday), throughput, cycle_median, cycle_mean, cycle_n (done items with a
    known cycle time). A week with nothing done has throughput 0 and no cycle time.
    """
    columns = ["team_id", "week", "throughput", "cycle_median", "cycle_mean", "cycle_n"]
    first = start - timedelta(days=start.weekday())
    weeks = pd.date_range(first, end, freq="7D").date
    teams = sorted({t for t in frame["team_id"].dropna().tolist()}) if len(frame) else []
    if not teams or not len(weeks):
        return pd.DataFrame(columns=columns)
    done = frame[(frame["status_category"] == "done") & frame["done_at"].notna()].copy()
    done["cycle"] = cycle_days(done)
    done["week"] = week_start(done["done_at"]) if len(done) else pd.Series(dtype=object)
    done = done[(done["week"] >= first) & (done["week"] <= end)]
    grid = pd.MultiIndex.from_product([teams, weeks], names=["team_id", "week"])
    grouped = done.groupby(["team_id", "week"])
    stats = pd.DataFrame(
        {
            "throughput": grouped.size(),
            "cycle_median": grouped["cycle"].median(),
            "cycle_mean": grouped["cycle"].mean(),
            "cycle_n": grouped["cycle"].count(),
        }
    )
    stats = stats.reindex(grid)
    stats["throughput"] = stats["throughput"].fillna(0).astype(int)
    stats["cycle_n"] = stats["cycle_n"].fillna(0).astype(int)
    return stats.reset_index()[columns]


def wip(frame: pd.DataFrame) -> dict[int, int]:
    """Items in progress per team."""
    rows = frame[frame["status_category"] == "in_progress"]
    return {int(k): int(v) for k, v in rows.groupby("team_id").size().items()}


def stale_cutoff(at: pd.Timestamp, days: int = STALE_DAYS) -> date:
    """The day before which an in-progress item's last activity makes it stale (whole UTC days, so the
    rows page's `idle_before` finds exactly the same items)."""
    return (at.tz_convert("UTC") - pd.Timedelta(days=days)).date()


def stale(frame: pd.DataFrame, at: pd.Timestamp, days: int = STALE_DAYS) -> pd.DataFrame:
    """In-progress items whose last activity is before `stale_cutoff(at, days)`, oldest activity first,
    with `idle_days`."""
    rows = frame[frame["status_category"] == "in_progress"].copy()
    last = rows["updated"].fillna(rows["started"])
    rows["idle_days"] = ((at - last).dt.total_seconds() / 86400.0).round(1)
    cutoff = pd.Timestamp(stale_cutoff(at, days), tz="UTC")
    rows = rows[last.notna() & (last < cutoff)]
    return rows.sort_values(["idle_days", "id"], ascending=[False, True])


def slipped(frame: pd.DataFrame) -> pd.DataFrame:
    """Items whose target date is later than their baseline, with `slip_days`, largest slip first."""
    rows = frame[frame["baseline"].notna() & frame["target_date"].notna()].copy()
    if rows.empty:
        rows["slip_days"] = pd.Series(dtype=int)
        return rows
    slip = pd.to_datetime(rows["target_date"]) - pd.to_datetime(rows["baseline"])
    rows["slip_days"] = slip.dt.days.astype(int)
    rows = rows[rows["slip_days"] > 0]
    return rows.sort_values(["slip_days", "id"], ascending=[False, True])


@dataclass(frozen=True)
class Backlog:
    count: int
    median_age_days: float | None
    oldest_age_days: float | None
    unestimated: int

    @property
    def unestimated_share(self) -> float | None:
        return self.unestimated / self.count if self.count else None


def backlog(frame: pd.DataFrame, at: pd.Timestamp) -> dict[int, Backlog]:
    """Per team: items to do, their median and oldest age in days, and how many have no estimate."""
    rows = frame[frame["status_category"] == "todo"].copy()
    rows["age"] = (at - rows["created"]).dt.total_seconds() / 86400.0
    out: dict[int, Backlog] = {}
    for team_id, group in rows.groupby("team_id"):
        ages = group["age"].dropna()
        out[int(team_id)] = Backlog(
            count=len(group),
            median_age_days=float(np.median(ages)) if len(ages) else None,
            oldest_age_days=float(ages.max()) if len(ages) else None,
            unestimated=int(group["points"].isna().sum()),
        )
    return out


@dataclass(frozen=True)
class CycleJump:
    team_id: int
    recent_median: float
    base_median: float
    recent_n: int
    base_n: int
    recent_from: date
    recent_to: date  # exclusive

    @property
    def ratio(self) -> float:
        return self.recent_median / self.base_median if self.base_median else float("inf")


def cycle_time_jumps(frame: pd.DataFrame, at: pd.Timestamp) -> list[CycleJump]:
    """Teams whose median cycle time over the last four weeks is at least 1.5 times (and two days more
    than) the median of the twelve weeks before, each window with at least five done items."""
    done = frame[(frame["status_category"] == "done") & frame["done_at"].notna()].copy()
    done["cycle"] = cycle_days(done)
    done = done[done["cycle"].notna()]
    recent_from = at - pd.Timedelta(days=JUMP_RECENT_DAYS)
    base_from = recent_from - pd.Timedelta(days=JUMP_BASE_DAYS)
    out = []
    for team_id, group in done.groupby("team_id"):
        recent = group[(group["done_at"] >= recent_from) & (group["done_at"] <= at)]["cycle"]
        base = group[(group["done_at"] >= base_from) & (group["done_at"] < recent_from)]["cycle"]
        if len(recent) < JUMP_MIN_ITEMS or len(base) < JUMP_MIN_ITEMS:
            continue
        r, b = float(recent.median()), float(base.median())
        if r >= JUMP_RATIO * b and r - b >= JUMP_MIN_DAYS:
            out.append(
                CycleJump(
                    int(team_id), r, b, len(recent), len(base), recent_from.date(), at.date() + timedelta(1)
                )
            )
    return out
