"""Benchmark: delivery metrics (weekly flow, WIP, stale, slips, backlog, cycle-time jumps) on 100,000
synthetic work items from 50 teams over two years.

    python bench/delivery.py [--items 100000] [--teams 50] [--db]

Without --db it needs no database: it times the metric functions on the frame the selector builds.
With --db it also stores the items in DATABASE_URL's database (as source "bench", deleted afterwards),
and times what a recompute and the Delivery health page do with them: reading the frame (with each
item's baseline target) and recording the target-date history twice (the second run finds no change).

Last line: delivery: items=N metrics_seconds=S metrics_cpu_seconds=C [frame_seconds=F history_seconds=H
history_again_seconds=H2] peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

NOW = datetime(2026, 11, 22, 18, tzinfo=UTC)


def synthetic(n: int, teams: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = NOW - pd.to_timedelta(rng.integers(0, 730 * 24, n), unit="h")
    status = rng.choice(["done", "in_progress", "todo"], size=n, p=[0.7, 0.1, 0.2])
    started = created + pd.to_timedelta(rng.integers(0, 30 * 24, n), unit="h")
    cycle = pd.to_timedelta(rng.gamma(2.0, 3.0, n) * 24, unit="h")
    done_at = (started + cycle).where(status == "done")
    started = started.where(status != "todo")
    started = started.where(started <= NOW, NOW)
    done_at = done_at.where(done_at <= NOW, NOW)
    updated = (started + pd.to_timedelta(rng.integers(0, 20 * 24, n), unit="h")).where(
        status == "in_progress"
    )
    target = (pd.Series(created) + pd.to_timedelta(rng.integers(20, 120, n), unit="D")).dt.date
    slip = rng.random(n) < 0.05
    baseline = [
        t - timedelta(days=int(d)) if s else t
        for t, s, d in zip(target, slip, rng.integers(7, 60, n), strict=True)
    ]
    points = np.where(rng.random(n) < 0.75, rng.choice([1, 2, 3, 5, 8], n), np.nan)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "team_id": rng.integers(1, teams + 1, n),
            "kind": "story",
            "status_category": status,
            "started": started,
            "done_at": done_at,
            "created": created,
            "updated": updated,
            "points": points,
            "target_date": target,
            "baseline": baseline,
        }
    )


def run_metrics(frame: pd.DataFrame) -> dict[str, int]:
    from productops.delivery import metrics

    frame = metrics.normalise(frame)
    at = metrics.as_of(frame, NOW)
    flow = metrics.weekly_flow(frame, (at - timedelta(days=365)).date(), at.date())
    return {
        "weeks": len(flow),
        "wip": sum(metrics.wip(frame).values()),
        "stale": len(metrics.stale(frame, at)),
        "slipped": len(metrics.slipped(frame)),
        "backlog": sum(b.count for b in metrics.backlog(frame, at).values()),
        "jumps": len(metrics.cycle_time_jumps(frame, at)),
    }


def run_db(frame: pd.DataFrame, teams: int) -> dict[str, float]:
    import django

    django.setup()
    from django.core.management import call_command

    from productops.delivery import services
    from productops.delivery.models import TargetDateChange
    from productops.delivery.selectors import items_frame
    from productops.portfolio.models import PortfolioItem, Team

    call_command("migrate", verbosity=0)
    team_ids = []
    for n in range(teams):
        team, _ = Team.objects.get_or_create(slug=f"bench-{n}", defaults={"name": f"Bench team {n}"})
        team_ids.append(team.pk)
    PortfolioItem.objects.filter(source_key="bench").delete()
    rows = [
        PortfolioItem(
            source_key="bench",
            external_id=str(r.id),
            title=f"Bench item {r.id}",
            kind="story",
            team_id=team_ids[int(r.team_id) - 1],
            status_category=r.status_category,
            started_at=None if pd.isna(r.started) else r.started.to_pydatetime(),
            done_at=None if pd.isna(r.done_at) else r.done_at.to_pydatetime(),
            created_at_source=r.created.to_pydatetime(),
            updated_at_source=None if pd.isna(r.updated) else r.updated.to_pydatetime(),
            estimate_points=None if np.isnan(r.points) else float(r.points),
            target_date=r.baseline,
        )
        for r in frame.itertuples()
    ]
    PortfolioItem.objects.bulk_create(rows, batch_size=5000)
    try:
        t0 = time.perf_counter()
        services.record_target_history(NOW - timedelta(days=60))  # the baselines
        history = time.perf_counter() - t0
        moved = frame[frame["target_date"] != pd.Series(frame["baseline"])]
        by_ext = dict(zip(moved["id"].astype(str), moved["target_date"], strict=True))
        changed = list(PortfolioItem.objects.filter(source_key="bench", external_id__in=list(by_ext)))
        for item in changed:
            item.target_date = by_ext[item.external_id]
        PortfolioItem.objects.bulk_update(changed, ["target_date"], batch_size=2000)
        t0 = time.perf_counter()
        services.record_target_history(NOW)  # the moves
        services.record_target_history(NOW)  # nothing new
        again = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            cProfile.runctx("items_frame(team_ids)", globals(), locals(), sort="cumtime")
        stored = items_frame(team_ids)
        frame_seconds, frame_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(stored) == len(frame), (len(stored), len(frame))
        slipped = run_metrics(stored)["slipped"]
        assert slipped == len(moved), (slipped, len(moved))
        return {
            "frame_seconds": frame_seconds,
            "frame_cpu_seconds": frame_cpu,
            "history_seconds": history,
            "history_again_seconds": again,
        }
    finally:
        TargetDateChange.objects.filter(item__source_key="bench").delete()
        PortfolioItem.objects.filter(source_key="bench").delete()
        Team.objects.filter(slug__startswith="bench-").delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--db", action="store_true", help="also time the database reads and writes")
    args = parser.parse_args()
    import django

    django.setup()
    frame = synthetic(args.items, args.teams)
    t0, c0 = time.perf_counter(), time.process_time()
    counts = run_metrics(frame)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    extra = ""
    if args.db:
        db = run_db(frame, args.teams)
        extra = " " + " ".join(f"{k}={v:.2f}" for k, v in db.items())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    print(
        f"delivery: items={args.items} teams={args.teams} metrics_seconds={seconds:.2f} "
        f"metrics_cpu_seconds={cpu:.2f}{extra} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
