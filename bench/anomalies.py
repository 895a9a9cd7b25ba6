"""Benchmark: detect_many over 10,000 synthetic daily series of 730 points, against a per-series loop.

Run from the repo root: `.venv/bin/python bench/anomalies.py [--series N] [--sample K]`. Needs no database.
The loop runs the same algorithm (`detect` on each series) on a sample in the same run; its results are
checked equal to the batch's before the per-series times are compared.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insights.anomalies import detect, detect_many
from tests.insights.anomaly_synthetic import make_matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=730)
    parser.add_argument("--sample", type=int, default=100, help="series scored one by one for the comparison")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

    index, values, truths = make_matrix(args.series, length=args.points, seed=42)
    wide = pd.DataFrame(values.T, index=index, columns=[f"s{i}" for i in range(args.series)])

    t0, c0 = time.perf_counter(), time.process_time()
    batch = detect_many(wide)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0  # CPU time: comparable on a busy machine, unlike wall time
    per_series_ms = seconds * 1000 / args.series

    rng = np.random.default_rng(0)
    sample = rng.choice(args.series, size=min(args.sample, args.series), replace=False)
    flags = batch["is_anomaly"].to_numpy().reshape(args.series, args.points)
    scores = batch["score"].to_numpy().reshape(args.series, args.points)
    t1 = time.perf_counter()
    singles = [detect(wide.iloc[:, i]) for i in sample]
    loop_ms = (time.perf_counter() - t1) * 1000 / len(sample)
    for i, one in zip(sample, singles, strict=True):
        if not (
            np.array_equal(one["score"].to_numpy(), scores[i])
            and (one["is_anomaly"].to_numpy() == flags[i]).all()
        ):
            raise SystemExit(f"batch and per-series results differ for series s{i}")

    planted = [t for t in truths if t.kind != "none"]
    found = sum(1 for i, t in enumerate(truths) if t.kind != "none" and flags[i, t.start : t.end + 31].any())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"quality: planted={len(planted)} found={found} flagged_points={int(flags.sum())}")
    print(f"loop: sample={len(sample)} per_series_ms={loop_ms:.2f} (results identical to batch)")
    print(
        f"anomalies: series={args.series} points={args.series * args.points} seconds={seconds:.2f} "
        f"cpu_seconds={cpu_seconds:.2f} per_series_ms={per_series_ms:.3f} vs_loop={loop_ms / per_series_ms:.1f} "
        f"peak_rss_mb={peak_rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
