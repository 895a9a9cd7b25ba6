"""Benchmark: our detector on the open labelled anomaly corpus, through the corpus' own scorer.

Run from the repo root: `.venv/bin/python bench/anomaly_quality.py [--corpus DIR]`. Needs no database.

The corpus (real production series with expert labels, its scorer `score.py` and two trailing baselines)
lives outside the repository, in `../shared/benchmarks/anomalies/` next to the repo root (its README says
how it scores). This file is also a detector the scorer can load by itself:
`python ../shared/benchmarks/anomalies/score.py bench/anomaly_quality.py` prints the per-series table.

Prints one line:
`anomaly_quality: corpus=<name> f1=<event F1> onset=<onset F1> baseline_rolling_z=<event F1>
baseline_mad=<event F1> top1=<..> baseline_top1_z=<..> baseline_top1_mad=<..> causal=<ok|no>`,
all at each detector's own best global threshold, as the scorer chooses it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from insights.anomalies.detect import detect as _detect  # noqa: E402

# Relative to the repo root; a git worktree sits one level deeper, so its parent's sibling counts too.
CORPUS_CANDIDATES = (
    ROOT.parent / "shared" / "benchmarks" / "anomalies",
    ROOT.parent.parent / "shared" / "benchmarks" / "anomalies",
)


def detect(series: pd.Series) -> pd.Series:
    """The scorer's contract: one score in [0, 1] per point, causal. Our default settings, no tuning."""
    return _detect(series)["score"]


def _scorer(corpus: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("anomaly_corpus_score", corpus / "score.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {corpus / 'score.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _summary(scorer: ModuleType, detector: Path, extra: list[str]) -> dict[str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        scorer.main([str(detector), "--quiet", *extra])
    lines = [line for line in out.getvalue().splitlines() if line.startswith("SUMMARY ")]
    if not lines:
        raise SystemExit(f"the scorer printed no SUMMARY line for {detector}:\n{out.getvalue()}")
    return dict(part.split("=", 1) for part in lines[-1].split()[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=None, help="the corpus directory (holds score.py)")
    parser.add_argument("--series", default=None, help="regex: score only matching series (exploration)")
    args = parser.parse_args()
    candidates = (args.corpus,) if args.corpus else CORPUS_CANDIDATES
    corpus = next((c for c in candidates if c is not None and (c / "score.py").is_file()), None)
    if corpus is None:
        # Said plainly, exit 0: `make bench` goes on to the other benchmarks on a machine without it.
        print(
            "anomaly_quality: skipped, the labelled corpus was not found; expected score.py in "
            + " or ".join(str(c) for c in candidates if c is not None)
            + " (the shared benchmarks directory next to the repository), or pass --corpus DIR"
        )
        return
    scorer = _scorer(corpus)
    extra = ["--series", args.series] if args.series else []
    ours = _summary(scorer, Path(__file__).resolve(), extra)
    z = _summary(scorer, corpus / "baselines" / "rolling_zscore.py", [*extra, "--causal-check", "none"])
    mad = _summary(scorer, corpus / "baselines" / "rolling_mad.py", [*extra, "--causal-check", "none"])
    data = sorted((corpus / "data").glob("*.csv*"))
    name = data[0].name.split(".")[0] if data else corpus.name
    print(
        f"anomaly_quality: corpus={name} f1={float(ours['event_f1']):.3f} onset={float(ours['onset_f1']):.3f} "
        f"baseline_rolling_z={float(z['event_f1']):.3f} baseline_mad={float(mad['event_f1']):.3f} "
        f"top1={float(ours['top1']):.3f} baseline_top1_z={float(z['top1']):.3f} "
        f"baseline_top1_mad={float(mad['top1']):.3f} causal={ours['causal']}"
    )


if __name__ == "__main__":
    main()
