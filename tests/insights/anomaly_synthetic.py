"""Synthetic daily series with planted anomalies, for the quality tests and bench/anomalies.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WEEKLY = np.array([1.0, 1.05, 1.08, 1.06, 1.0, 0.72, 0.65])


@dataclass
class Planted:
    kind: str  # spike | dip | level_shift | drift | none
    start: int
    end: int  # inclusive


def make_matrix(
    n: int, length: int = 730, seed: int = 0, planted_share: float = 0.5, start: str = "2024-01-01"
) -> tuple[pd.DatetimeIndex, np.ndarray, list[Planted]]:
    """n daily series (rows): level, trend, weekly season, noise; about planted_share get one anomaly."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=length, freq="D")
    t = np.arange(length)
    level = rng.uniform(50, 5000, size=(n, 1))
    trend = rng.normal(0, 0.0004, size=(n, 1)) * level
    seasonal = rng.random((n, 1)) < 0.8
    season = np.where(seasonal, WEEKLY[(t + rng.integers(0, 7, size=(n, 1))) % 7], 1.0)
    noise = rng.normal(0, rng.uniform(0.02, 0.06, size=(n, 1)), size=(n, length))
    base = (level + trend * t) * season
    values = base * (1 + noise)
    truths: list[Planted] = []
    kinds = np.array(["spike", "dip", "level_shift", "drift"])
    for i in range(n):
        if rng.random() >= planted_share:
            truths.append(Planted("none", -1, -1))
            continue
        kind = str(kinds[rng.integers(0, 4)])
        s = int(rng.integers(120, length - 60))
        if kind == "spike":
            e = s + int(rng.integers(0, 3))
            values[i, s : e + 1] = base[i, s : e + 1] * rng.uniform(1.5, 2.2)
        elif kind == "dip":
            e = s + int(rng.integers(0, 4))
            values[i, s : e + 1] = base[i, s : e + 1] * rng.uniform(0.35, 0.65)
        elif kind == "level_shift":
            e = length - 1
            values[i, s:] *= rng.choice([0.6, 1.5])
        else:
            e = s + 40
            ramp = np.clip((t - s) / 40.0, 0, 1)[s:]
            values[i, s:] *= 1 + rng.choice([-0.35, 0.35]) * ramp
        truths.append(Planted(kind, s, e))
    return index, values, truths
