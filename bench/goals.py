"""Benchmark: projecting key results (`productops.goals.forecast.project`) on synthetic daily series.

Run from the repo root: `.venv/bin/python bench/goals.py [--krs N]`. Needs no database: the recompute
reads one key result's points with one query, then spends its time here. Prints one line.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from productops.goals.forecast import at_risk, project

START, END, LAST = date(2026, 10, 1), date(2026, 12, 31), date(2026, 11, 22)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--krs", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    days = pd.date_range(end=pd.Timestamp(LAST), periods=173, freq="D")  # 120 days before the period + 53
    series = []
    for i in range(args.krs):
        slope = rng.normal(0, 2)
        values = 1000 + slope * np.arange(len(days)) + rng.normal(0, 20, len(days))
        series.append((pd.Series(values, index=days), ("sum", "mean", "last")[i % 3]))
    t0, c0 = time.perf_counter(), time.process_time()
    flagged = 0
    for s, aggregation in series:
        p = project(s, START, END, aggregation)
        assert p is not None
        flagged += at_risk(1000, 1100 if aggregation == "last" else p.projected * 1.05, p.low, p.high)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"goals_projection krs={args.krs} seconds={seconds:.2f} cpu_seconds={cpu:.2f} "
        f"ms_per_kr={seconds * 1000 / args.krs:.2f} at_risk={flagged} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
