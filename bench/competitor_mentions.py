"""Benchmark: competitor mention detection over 200,000 feedback texts (20 competitors, 3 aliases and a
domain each), with planted ground truth checked exactly (every planted mention found, no decoy matched).

Run from the repo root: `.venv/bin/python bench/competitor_mentions.py [--texts N] [--competitors K]`.
Needs no database: it times `Matcher.find` and `snippet` (what `scan_mentions` runs per row); the
database side of a scan is one streamed SELECT per source and one bulk INSERT.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from productops.competitors.detect import Matcher, Spec, snippet

WORDS = [
    "the",
    "export",
    "is",
    "slow",
    "again",
    "and",
    "our",
    "invoices",
    "time",
    "out",
    "at",
    "month",
    "end",
    "so",
    "we",
    "are",
    "looking",
    "at",
    "options",
    "support",
    "answered",
    "quickly",
    "but",
    "the",
    "dashboard",
    "keeps",
    "loading",
    "and",
    "the",
    "mobile",
    "app",
    "crashes",
    "on",
    "login",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=200_000)
    parser.add_argument("--competitors", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    specs = [
        Spec(i, [f"Rival{i}", f"Rival {i} Pro", f"RivalSoft{i}"], [f"rival{i}.io"])
        for i in range(args.competitors)
    ]
    matcher = Matcher(specs)
    texts, truth = [], []
    for n in range(args.texts):
        words = list(rng.choice(WORDS, size=int(rng.integers(12, 40))))
        roll = rng.random()
        planted: int | None = None
        if roll < 0.05:  # a real mention, by name, alias or domain, in any case
            planted = int(rng.integers(0, args.competitors))
            term = [
                f"Rival{planted}",
                f"rival {planted} pro",
                f"RIVALSOFT{planted}",
                f"app.rival{planted}.io",
            ][n % 4]
            words.insert(int(rng.integers(0, len(words))), term)
        elif roll < 0.08:  # a decoy: the name inside another word
            words.insert(0, f"Rival{int(rng.integers(0, args.competitors))}ish")
        texts.append(" ".join(words) + ".")
        truth.append(planted)

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0, c0 = time.perf_counter(), time.process_time()
    found = 0
    wrong = 0
    for text, planted in zip(texts, truth, strict=True):
        hits = matcher.find(text)
        for h in hits:
            snippet(text, h.start, h.end)
        found += len(hits)
        if [h.competitor_id for h in hits] != ([planted] if planted is not None else []):
            wrong += 1
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    planted_total = sum(p is not None for p in truth)
    print(
        f"competitor_mentions texts={args.texts} competitors={args.competitors} planted={planted_total} "
        f"found={found} wrong={wrong} wall_s={seconds:.2f} cpu_s={cpu:.2f} "
        f"texts_per_cpu_s={args.texts / max(cpu, 1e-9):,.0f} max_rss_mb={r1.ru_maxrss / 1024:.0f} "
        f"user_s={r1.ru_utime - r0.ru_utime:.2f}"
    )
    if wrong:
        raise SystemExit(f"{wrong} texts matched differently from the planted truth")


if __name__ == "__main__":
    main()
