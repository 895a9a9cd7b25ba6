"""The fixed cast of the demo: dates, products, teams, dimensions and the random streams.

Everything the other demo modules share lives here, so a change to one section's randomness never
shifts another section's numbers (each section draws from its own stream, see `rng`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.db import reset_queries

SOURCE_KEY = "demo"
END_DATE = dt.date(2026, 11, 22)  # a Sunday: fixed so tests and ground truth are reproducible
N_DAYS = 548  # 18 months
START_DATE = END_DATE - dt.timedelta(days=N_DAYS - 1)
WARMUP_DAYS = 60  # nothing is planted before this many days of history

PLATFORMS = ("web", "ios", "android")
CORE_COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN")
CORE_COUNTRY_SHARES = (0.34, 0.14, 0.16, 0.10, 0.12, 0.14)
# More markets for the larger benchmark scales (scale K > 1 uses 5*K of them).
EXTRA_COUNTRIES = [
    "ES",
    "IT",
    "NL",
    "SE",
    "NO",
    "DK",
    "FI",
    "PL",
    "PT",
    "IE",
    "AT",
    "CH",
    "BE",
    "CZ",
    "HU",
    "RO",
    "GR",
    "TR",
    "IL",
    "AE",
    "SA",
    "ZA",
    "NG",
    "KE",
    "EG",
    "MX",
    "AR",
    "CL",
    "CO",
    "PE",
    "CA",
    "AU",
    "NZ",
    "JP",
    "KR",
    "CN",
    "TW",
    "HK",
    "SG",
    "MY",
    "TH",
    "VN",
    "ID",
    "PH",
    "UA",
    "EE",
    "LV",
    "LT",
    "SK",
    "SI",
    "HR",
    "BG",
    "RS",
    "IS",
    "LU",
    "MT",
    "CY",
]


@dataclass(frozen=True)
class ProductSpec:
    slug: str
    name: str
    description: str
    platform_shares: tuple[float, float, float]
    weekend: tuple[float, float, float]  # Saturday/Sunday factor per platform (web, ios, android)
    levels: dict[str, float]  # metric key -> base daily level at the start
    growth: float  # relative growth over the 18 months


PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec(
        "ledger",
        "Ledger",
        "Invoicing and billing for small businesses.",
        (0.55, 0.20, 0.25),
        (0.55, 0.75, 0.75),
        {
            "daily_active_users": 18000,
            "signups": 1600,
            "conversion_rate": 0.05,
            "revenue": 42000,
            "feature_usage": 5000,
            "session_length": 540,
        },
        0.30,
    ),
    ProductSpec(
        "pulse",
        "Pulse",
        "Team chat and calls, mobile first.",
        (0.20, 0.40, 0.40),
        (0.85, 1.05, 1.05),
        {
            "daily_active_users": 60000,
            "signups": 3000,
            "conversion_rate": 0.035,
            "revenue": 15000,
            "feature_usage": 250000,
            "session_length": 900,
        },
        0.45,
    ),
    ProductSpec(
        "canvas",
        "Canvas",
        "Collaborative whiteboards and design reviews.",
        (0.60, 0.25, 0.15),
        (0.50, 0.70, 0.70),
        {
            "daily_active_users": 25000,
            "signups": 2000,
            "conversion_rate": 0.045,
            "revenue": 30000,
            "feature_usage": 6000,
            "session_length": 1200,
        },
        0.20,
    ),
)

# Team slug -> (name, products, tracker, key prefix, url base)
TEAMS: dict[str, tuple[str, tuple[str, ...], str, str, str]] = {
    "payments": ("Payments", ("ledger",), "jira", "PAY", "https://demo-org.atlassian.net/browse/"),
    "growth": (
        "Growth",
        ("ledger", "pulse", "canvas"),
        "linear",
        "GRO",
        "https://linear.app/demo-org/issue/",
    ),
    "mobile": ("Mobile", ("pulse", "canvas"), "github", "MOB", "https://github.com/demo-org/mobile/issues/"),
    "platform": (
        "Platform",
        ("ledger", "pulse", "canvas"),
        "gitlab",
        "PLT",
        "https://gitlab.com/demo-org/platform/-/issues/",
    ),
    "insights": ("Insights", ("ledger", "canvas"), "jira", "INS", "https://demo-org.atlassian.net/browse/"),
    "collaboration": (
        "Collaboration",
        ("canvas", "pulse"),
        "linear",
        "COL",
        "https://linear.app/demo-org/issue/",
    ),
}

# Section ids for independent random streams.
STREAMS = {
    "metrics": 1,
    "nps": 2,
    "tickets": 3,
    "experiments": 4,
    "flags": 5,
    "mentions": 6,
    "kb": 7,
    "portfolio": 8,
    "monitoring": 9,
    "competitor-mentions": 10,
    "delivery": 11,
}


def rng(seed: int, section: str, *extra: int) -> np.random.Generator:
    """A Generator for one section (and optionally one product), independent of every other."""
    return np.random.default_rng([seed, STREAMS[section], *extra])


def forget_queries() -> None:
    """Drop the SQL log Django keeps when DEBUG is on; at --scale 10 it alone grew past 800 MB."""
    reset_queries()


def day(index: int) -> dt.date:
    return START_DATE + dt.timedelta(days=index)


def at(index: int, seconds: float = 0.0) -> dt.datetime:
    """The aware UTC datetime `seconds` after midnight of day `index`."""
    base = dt.datetime.combine(day(index), dt.time(), tzinfo=dt.UTC)
    return base + dt.timedelta(seconds=int(seconds))


def iso(index: int) -> str:
    return day(index).isoformat()


def countries_for_scale(scale: int) -> tuple[tuple[str, ...], np.ndarray]:
    if scale <= 1:
        return CORE_COUNTRIES, np.array(CORE_COUNTRY_SHARES)
    codes = (CORE_COUNTRIES + tuple(EXTRA_COUNTRIES))[: 5 * scale]
    weights = 1.0 / np.arange(1, len(codes) + 1) ** 0.8  # a long tail of small markets
    return codes, weights / weights.sum()


def extra_products(scale: int) -> list[ProductSpec]:
    """Benchmark-only products (scale > 1): same shape as the core ones, no planted anomalies."""
    out = []
    for i in range(3, 3 * max(scale, 1)):
        base = PRODUCTS[i % 3]
        out.append(
            ProductSpec(
                f"product-{i + 1:02d}",
                f"Product {i + 1:02d}",
                "Generated for load tests (seed_demo --scale).",
                base.platform_shares,
                base.weekend,
                {
                    k: v * (0.5 + (i % 5) / 4) if k not in {"conversion_rate"} else v
                    for k, v in base.levels.items()
                },
                base.growth,
            )
        )
    return out
