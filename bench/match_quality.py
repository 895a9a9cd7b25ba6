"""Benchmark: duplicate matching on real bug reports (shared/benchmarks/duplicates), ours vs TF-IDF.

Runs the corpus' own scorer (score.py: shuffled presentation order, queries = every duplicate filed after
the first of its group, candidates cut to earlier reports) on two matchers in the same run:
- ours: `insights.overlaps.similarity.nearest_titled`, the overlap engine's duplicate-report search
  (BM25 with the title weighted, character n-grams, LSA re-ranking; all fitted on the corpus itself);
- the corpus' baseline, baselines/tfidf.py (scikit-learn TF-IDF cosine).

    python bench/match_quality.py [--data-dir PATH] [--project NAME ...] [--seed 0]

Last line: match_quality: corpus=<name> r1=<..> r5=<..> r10=<..> mrr=<..> baseline_r5=<..>
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from insights.overlaps.similarity import nearest_titled  # noqa: E402

DEFAULT_DIRS = (
    ROOT.parent / "shared" / "benchmarks" / "duplicates",
    Path("/work/shared/benchmarks/duplicates"),
)


class Ours:
    """The scorer's matcher contract: a text is "<title>\\n\\n<description>"."""

    @staticmethod
    def nearest(texts: list[str], k: int) -> list[list[tuple[int, float]]]:
        titles, bodies = [], []
        for text in texts:
            title, _, body = text.partition("\n\n")
            titles.append(title)
            bodies.append(body)
        return nearest_titled(titles, bodies, k)


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(scorer: ModuleType, matcher: Any, reports: Any, projects: list[str], seed: int) -> tuple[dict, Any]:
    import pandas as pd

    parts = []
    for project in projects:
        ranks, _ = scorer.score_project(matcher, reports[reports["project"] == project], 100, seed)
        parts.append(ranks)
    ranks = pd.concat(parts, ignore_index=True)
    return scorer.summarise(ranks), ranks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--project", action="append")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir = args.data_dir or next((d for d in DEFAULT_DIRS if (d / "score.py").is_file()), None)
    if data_dir is None or not (data_dir / "score.py").is_file():
        raise SystemExit("duplicates corpus not found: pass --data-dir path/to/shared/benchmarks/duplicates")
    scorer = _load(data_dir / "score.py", "duplicates_score")
    baseline = _load(data_dir / "baselines" / "tfidf.py", "duplicates_tfidf")
    reports = scorer.load_reports(data_dir / "data" / "bug_reports.csv.gz")
    projects = sorted(reports["project"].unique())
    if args.project:
        projects = [p for p in projects if p in set(args.project)]

    t0 = time.perf_counter()
    ours, ranks = run(scorer, Ours, reports, projects, args.seed)
    t_ours = time.perf_counter() - t0
    base, _ = run(scorer, baseline, reports, projects, args.seed)
    for project in projects:
        mine = scorer.summarise(ranks[ranks["project"] == project])
        print(scorer.line(project, mine))
    print(scorer.line("ours (micro)", ours, f"   ({t_ours:.0f}s)"))
    print(scorer.line("baseline tfidf (micro)", base))
    above = all(ours[m] > base[m] for m in ("R@1", "R@5", "R@10", "MRR"))
    print(f"every figure above the baseline: {'yes' if above else 'NO'}")
    print(
        f"match_quality: corpus={data_dir.name} r1={ours['R@1']:.3f} r5={ours['R@5']:.3f} "
        f"r10={ours['R@10']:.3f} mrr={ours['MRR']:.3f} baseline_r5={base['R@5']:.3f}"
    )


if __name__ == "__main__":
    main()
