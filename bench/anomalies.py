"""Benchmark: detect_many over 10,000 synthetic daily series of 730 points, against a per-series loop.

Run from the repo root: `.venv/bin/python bench/anomalies.py [--series N] [--sample K] [--against REF]`.
Needs no database. The loop runs the same algorithm (`detect` on each series) on a sample in the same run; its
results are checked equal to the batch's before the per-series times are compared.

`--against REF` (a git commit or branch) also times that revision's `insights/anomalies/detect.py` on the same
matrix in the same process, first, and prints its line beside ours: the fair way to compare speed on a busy
machine, where figures from different runs are not comparable.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from insights.anomalies import detect, detect_many  # noqa: E402
from tests.insights.anomaly_synthetic import make_matrix  # noqa: E402


def _detector_at(ref: str) -> ModuleType:
    """`insights/anomalies/detect.py` as it was at a git revision, loaded as a stand-alone module."""
    source = subprocess.run(
        ["git", "show", f"{ref}:insights/anomalies/detect.py"], cwd=ROOT, capture_output=True, text=True
    )
    if source.returncode != 0:
        raise SystemExit(f"cannot read insights/anomalies/detect.py at {ref!r}: {source.stderr.strip()}")
    path = Path(tempfile.mkdtemp(prefix="anomalies-bench-")) / "detect_at_ref.py"
    path.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location("detect_at_ref", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _timed(
    fn: Callable[[pd.DataFrame], pd.DataFrame], wide: pd.DataFrame
) -> tuple[pd.DataFrame, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn(wide)
    # CPU time: comparable on a busy machine, unlike wall time.
    return result, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=730)
    parser.add_argument("--sample", type=int, default=100, help="series scored one by one for the comparison")
    parser.add_argument(
        "--against", default=None, help="git revision whose detector is timed in the same run"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

    index, values, truths = make_matrix(args.series, length=args.points, seed=42)
    wide = pd.DataFrame(values.T, index=index, columns=[f"s{i}" for i in range(args.series)])

    if args.against:
        old = _detector_at(args.against)
        old_batch, old_seconds, old_cpu = _timed(old.detect_many, wide)
        old_flags = old_batch["is_anomaly"].to_numpy().reshape(args.series, args.points)
        print(
            f"anomalies[{args.against}]: series={args.series} points={args.series * args.points} "
            f"seconds={old_seconds:.2f} cpu_seconds={old_cpu:.2f} flagged_points={int(old_flags.sum())}"
        )
    batch, seconds, cpu_seconds = _timed(detect_many, wide)
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
