"""Benchmark: duplicate matching on real bug reports (shared/benchmarks/duplicates), ours vs TF-IDF.

Runs the corpus' own scorer (score.py: shuffled presentation order, queries = every duplicate filed after
the first of its group, candidates cut to earlier reports) on two matchers in the same run:
- ours: `insights.overlaps.similarity.nearest_titled`, the overlap engine's duplicate-report search
  (BM25 with the title weighted, character n-grams, LSA fitted on the corpus itself, and, when the
  pretrained sentence model is installed, its title and report embeddings; all fused in one re-rank);
- the corpus' baseline, baselines/tfidf.py (scikit-learn TF-IDF cosine).

The fusion weights were chosen on half of the duplicate groups (split "fit": a fixed hash of the group's
first report id) and are also reported on the other half ("held-out"), which took no part in choosing them.

    python bench/match_quality.py [--data-dir PATH] [--project NAME ...] [--seed 0] [--no-model]

--no-model measures the fallback (the product without the sentence model installed).

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

    dense: bool | None = None

    @classmethod
    def nearest(cls, texts: list[str], k: int) -> list[list[tuple[int, float]]]:
        titles, bodies = [], []
        for text in texts:
            title, _, body = text.partition("\n\n")
            titles.append(title)
            bodies.append(body)
        return nearest_titled(titles, bodies, k, dense=cls.dense)


def held_out_mask(scorer: ModuleType, reports: Any, ranks: Any) -> Any:
    """True for queries whose duplicate group is in the held-out half (odd hash of its first report's id)."""
    import numpy as np

    held = {}
    for project, g in reports.groupby("project"):
        ids = g["id"].to_numpy()
        groups = scorer.group_ids(ids, g["dup_of"].reset_index(drop=True))
        for report, group in zip(ids.tolist(), groups.tolist(), strict=True):
            held[(project, int(report))] = (int(group) * 2654435761) % 2**32 % 2 == 1
    return np.array([held[(p, int(i))] for p, i in zip(ranks["project"], ranks["id"], strict=True)])


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
    parser.add_argument("--no-model", action="store_true", help="leave the sentence model out")
    args = parser.parse_args()
    from insights.overlaps import embedding

    Ours.dense = False if args.no_model else None
    model = "no (fallback)" if args.no_model or not embedding.available() else "all-MiniLM-L6-v2"
    data_dir = args.data_dir or next((d for d in DEFAULT_DIRS if (d / "score.py").is_file()), None)
    if data_dir is None or not (data_dir / "score.py").is_file():
        raise SystemExit("duplicates corpus not found: pass --data-dir path/to/shared/benchmarks/duplicates")
    scorer = _load(data_dir / "score.py", "duplicates_score")
    baseline = _load(data_dir / "baselines" / "tfidf.py", "duplicates_tfidf")
    reports = scorer.load_reports(data_dir / "data" / "bug_reports.csv.gz")
    projects = sorted(reports["project"].unique())
    if args.project:
        projects = [p for p in projects if p in set(args.project)]

    t0, c0 = time.perf_counter(), time.process_time()
    ours, ranks = run(scorer, Ours, reports, projects, args.seed)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    base, base_ranks = run(scorer, baseline, reports, projects, args.seed)
    print(f"sentence model: {model}")
    print(f"{'slice':32s} {'queries':>6s}  R@1   R@5   R@10  R@20   MRR")
    for project in projects:
        mine = scorer.summarise(ranks[ranks["project"] == project])
        print(scorer.line(project, mine))
    print(scorer.line("ours (micro)", ours, f"   ({t_ours:.0f}s wall, {c_ours:.0f}s cpu)"))
    print(scorer.line("baseline tfidf (micro)", base))
    held, base_held = held_out_mask(scorer, reports, ranks), held_out_mask(scorer, reports, base_ranks)
    print(scorer.line("ours, fit half", scorer.summarise(ranks[~held])))
    print(scorer.line("ours, held-out half", scorer.summarise(ranks[held])))
    print(scorer.line("baseline, held-out half", scorer.summarise(base_ranks[base_held])))
    above = all(ours[m] > base[m] for m in ("R@1", "R@5", "R@10", "MRR"))
    print(f"every figure above the baseline: {'yes' if above else 'NO'}")
    print(
        f"match_quality: corpus={data_dir.name} r1={ours['R@1']:.3f} r5={ours['R@5']:.3f} "
        f"r10={ours['R@10']:.3f} mrr={ours['MRR']:.3f} baseline_r5={base['R@5']:.3f}"
    )


if __name__ == "__main__":
    main()
