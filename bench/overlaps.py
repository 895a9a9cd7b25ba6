"""Benchmark: nearest + find_overlaps on 50,000 synthetic portfolio items from 40 teams.

Plants cross-team duplicates (paraphrased titles and descriptions), times the sparse neighbour search
and the full overlap detection (item vectors included), and compares the sparse top-10 of a 5,000-item
sample with a brute-force top-10 (every pair scored exactly, dense blocks) against all items, in the same
run. No database needed (find_overlaps is pure). Seconds and peak RSS cover nearest + find_overlaps;
the brute-force check runs after the clock stops (its memory counts in the peak).

    python bench/overlaps.py [--items 50000] [--teams 40] [--sample 5000]

Last line: overlaps: items=N seconds=S peak_rss_mb=M recall_vs_bruteforce=R cpu_seconds=C load=L

`seconds` is wall-clock (the goal: < 60 s for 50k items, < 2 GB, recall >= 0.95). On a shared machine it
mostly measures the other processes: `cpu_seconds` is this process' own CPU time over the same span and
`load` the 1-minute load average at the end, so a slow run can be told apart from a slow machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

from insights.overlaps.detect import OverlapItem, find_overlaps, item_matrix
from insights.overlaps.similarity import nearest, vectorize

VERBS = [
    "add",
    "build",
    "redesign",
    "migrate",
    "improve",
    "fix",
    "refactor",
    "launch",
    "support",
    "automate",
    "speed up",
    "simplify",
    "localise",
    "instrument",
    "harden",
    "deprecate",
    "rewrite",
    "expose",
    "audit",
]
NOUNS = [
    "checkout",
    "invoice",
    "billing export",
    "onboarding flow",
    "search ranking",
    "password reset",
    "notification centre",
    "mobile login",
    "dashboard filters",
    "csv import",
    "webhook retries",
    "sso",
    "audit log",
    "role permissions",
    "pricing page",
    "usage metering",
    "data retention",
    "api rate limits",
    "email templates",
    "dark mode",
    "offline sync",
    "file uploads",
    "team invites",
    "report scheduler",
    "currency conversion",
    "tax calculation",
    "refund flow",
    "feature flags",
    "session timeout",
    "two factor auth",
    "activity feed",
    "comment threads",
    "image resizing",
    "push notifications",
    "calendar sync",
    "slack integration",
    "jira integration",
    "gdpr export",
    "account deletion",
    "trial conversion",
    "plan upgrades",
    "seat management",
    "payment methods",
]
QUALIFIERS = [
    "for enterprise accounts",
    "on android",
    "on ios",
    "in the web app",
    "for admins",
    "for new users",
    "in europe",
    "with retries",
    "behind a flag",
    "for the partner api",
    "at scale",
    "for self-serve",
    "in the mobile app",
    "for finance",
    "for support agents",
]
FILLER = [
    "customers",
    "asked",
    "for",
    "this",
    "repeatedly",
    "the",
    "current",
    "behaviour",
    "confuses",
    "people",
    "and",
    "creates",
    "tickets",
    "we",
    "should",
    "measure",
    "adoption",
    "and",
    "roll",
    "out",
    "gradually",
    "after",
    "design",
    "review",
    "the",
    "backend",
    "needs",
    "a",
    "small",
    "schema",
    "change",
    "and",
    "the",
    "frontend",
    "needs",
    "new",
    "states",
    "for",
    "loading",
    "errors",
    "and",
    "empty",
    "results",
]
COMPONENTS = ["web", "ios", "android", "api", "billing", "auth", "search", "notifications", "reports", "data"]


SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ter",
    "vo",
    "ran",
    "pel",
    "dex",
    "sto",
    "qui",
    "bar",
    "nim",
    "zo",
    "fen",
    "gra",
    "tul",
    "ox",
    "sil",
    "ver",
    "mo",
    "pla",
    "cor",
    "den",
    "lux",
]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Pseudo-words standing in for a real tracker's long tail (product names, systems, customers)."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def synth(
    n: int, teams: int, dup_pairs: int, rng: random.Random
) -> tuple[list[OverlapItem], list[tuple[int, int]]]:
    """Titles "verb + feature + qualifier", where features mix common product nouns with a Zipf-distributed
    long tail, as in real trackers; descriptions add filler prose and long-tail terms."""
    items: list[OverlapItem] = []
    base = date(2026, 1, 1)
    tail = vocabulary(rng, 6000)
    zipf = np.random.default_rng(rng.randrange(2**32))
    ranks = np.minimum(zipf.zipf(1.3, size=(n, 6)), len(tail)) - 1
    for i in range(n - dup_pairs):
        verb, qual = rng.choice(VERBS), rng.choice(QUALIFIERS)
        noun = f"{tail[ranks[i, 0]]} {rng.choice(NOUNS)}" if rng.random() < 0.7 else rng.choice(NOUNS)
        extra = " ".join(rng.sample(FILLER, 8) + [tail[r] for r in ranks[i, 1:]])
        start = base + timedelta(days=rng.randrange(0, 330))
        items.append(
            OverlapItem(
                ref=f"item:{i}",
                key=f"T{i % teams}-{i}",
                team=f"team-{i % teams}",
                product=f"p{i % 3}",
                title=f"{verb} {noun} {qual}".capitalize(),
                description=f"{noun} {extra} {rng.randrange(10**6)}",
                labels=(rng.choice(["q1", "q2", "q3", "q4"]),),
                components=(rng.choice(COMPONENTS),),
                start=start,
                end=start + timedelta(days=rng.randrange(14, 120)),
                status=rng.choice(["todo", "in_progress", "done"]),
            )
        )
    planted = []
    for d in range(dup_pairs):
        src_i = rng.randrange(len(items) - 1)
        src = items[src_i]
        words = src.title.lower().split()
        rng.shuffle(words)
        title = (
            " ".join(words[: max(3, len(words) - 1)]) + " " + rng.choice(["v2", "again", "project", "work"])
        )
        other_team = f"team-{(int(src.team.split('-')[1]) + 1 + rng.randrange(teams - 1)) % teams}"
        j = len(items)
        items.append(
            OverlapItem(
                ref=f"item:{n - dup_pairs + d}",
                key=f"D-{d}",
                team=other_team,
                product=src.product,
                title=title.capitalize(),
                description=src.description[: len(src.description) // 2],
                labels=src.labels,
                components=src.components,
                start=src.start,
                end=src.end,
                status="todo",
            )
        )
        planted.append((src_i, j))
    return items, planted


class PeakRss:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def recall_vs_bruteforce(
    texts: list[str], ours: list[list[tuple[int, float]]], sample: list[int], k: int
) -> float:
    """Recall of `nearest`'s top k (from the timed run) against brute force, for `sample` query rows.

    Brute force scores every (sampled row, corpus row) pair exactly on the same TF-IDF vectors, as dense
    blocks of 500 x n, and takes the true top k. Ties with the true k-th score count as hits.
    """
    matrix = vectorize(texts)
    hits = total = 0
    for lo in range(0, len(sample), 500):
        rows = sample[lo : lo + 500]
        sims = (matrix[rows] @ matrix.T).toarray()
        sims[np.arange(len(rows)), rows] = -1.0
        for r, i in enumerate(rows):
            row = sims[r]
            top = np.argpartition(-row, k)[:k]
            truth = {int(j) for j in top if row[j] > 0}
            if not truth:
                continue
            kth = min(row[j] for j in truth)
            mine = {j for j, _ in ours[i]}
            hits += sum(1 for j in truth if j in mine) + sum(
                1 for j in mine if j not in truth and row[j] >= kth - 1e-5
            )
            total += len(truth)
    return min(1.0, hits / total) if total else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--teams", type=int, default=40)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    items, planted = synth(args.items, args.teams, max(1, args.items // 100), rng)
    texts = [f"{it.title}. {it.description}" for it in items]

    with PeakRss() as rss:
        t0 = time.perf_counter()
        c0 = time.process_time()
        neighbours = nearest(texts, 10)
        t_nearest = time.perf_counter() - t0
        print(f"nearest done in {t_nearest:.1f}s", flush=True)
        t1 = time.perf_counter()
        matrix = item_matrix(items)
        t_matrix = time.perf_counter() - t1
        found = find_overlaps(items, matrix=matrix)
        t_find = time.perf_counter() - t1
        print(f"find_overlaps done in {t_find:.1f}s (item vectors {t_matrix:.1f}s)", flush=True)
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - c0
        sample_idx = sorted(rng.sample(range(len(texts)), min(args.sample, len(texts))))
        t2 = time.perf_counter()
        recall = recall_vs_bruteforce(texts, neighbours, sample_idx, 10)
        t_brute = time.perf_counter() - t2

    pairs = {(o.a, o.b) for o in found} | {(o.b, o.a) for o in found}
    planted_found = sum(1 for i, j in planted if (items[i].ref, items[j].ref) in pairs)
    kinds: dict[str, int] = {}
    for o in found:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    assert len(neighbours) == len(items)
    print(f"nearest: {t_nearest:.1f}s; find_overlaps: {t_find:.1f}s; overlaps found: {len(found)} {kinds}")
    print(f"planted duplicates recovered: {planted_found}/{len(planted)}")
    print(f"brute-force top-10 of {len(sample_idx)} sampled items against all {len(items)}: {t_brute:.1f}s")
    print(
        f"overlaps: items={len(items)} seconds={seconds:.1f} peak_rss_mb={rss.peak / 2**20:.0f} "
        f"recall_vs_bruteforce={recall:.3f} cpu_seconds={cpu_seconds:.1f} load={os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
