"""Small synthetic feedback for tests: three clear topics with varied wording."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from productops.portfolio.models import PortfolioItem, Product
from productops.signals.models import NpsResponse, SupportTicket

TOPICS = {
    "export": [
        "billing export fails",
        "csv export error",
        "invoice export broken",
        "export times out",
        "billing export fails again",
    ],
    "login": [
        "cannot login password reset",
        "password reset email never arrives",
        "login loop after reset",
        "two factor login code rejected",
    ],
    "darkmode": [
        "please add dark mode",
        "dark theme request",
        "dark mode for the dashboard",
        "night mode dark colours",
    ],
}
FILLER = [
    "today",
    "for our team",
    "since the update",
    "on the web app",
    "this morning",
    "again and again",
    "for the finance department",
    "on chrome",
]
END = datetime(2026, 10, 31, 12, tzinfo=UTC)


def make_product(slug: str = "acme") -> Product:
    return Product.objects.create(name=slug.title(), slug=slug)


def make_tickets(
    product: Product,
    per_topic: int = 25,
    weeks: int = 20,
    seed: int = 1,
    spike_topic: str | None = None,
    spike_extra: int = 0,
) -> list[SupportTicket]:
    rng = random.Random(seed)
    rows: list[SupportTicket] = []
    n = 0
    for topic, phrases in TOPICS.items():
        for _ in range(per_topic):
            n += 1
            opened = END - timedelta(days=rng.randint(0, weeks * 7 - 1), hours=rng.randint(0, 10))
            rows.append(_ticket(product, n, topic, phrases, rng, opened))
        if topic == spike_topic:
            for _ in range(spike_extra):
                n += 1
                opened = END - timedelta(days=rng.randint(0, 5), hours=rng.randint(0, 10))
                rows.append(_ticket(product, n, topic, phrases, rng, opened))
    return SupportTicket.objects.bulk_create(rows)


def _ticket(
    product: Product, n: int, topic: str, phrases: list[str], rng: random.Random, opened: datetime
) -> SupportTicket:
    text = f"{rng.choice(phrases)} {rng.choice(FILLER)}"
    return SupportTicket(
        product=product,
        source_key="test",
        external_id=f"t{n}",
        subject=text.capitalize(),
        body_text=f"Hello, {text}. {rng.choice(phrases)}.\n\nBest regards,\nSam",
        opened_at=opened,
        first_response_at=opened + timedelta(hours=rng.randint(1, 30)),
        solved_at=opened + timedelta(hours=rng.randint(31, 90)) if rng.random() < 0.8 else None,
        tags=[topic],
        channel=rng.choice(["email", "chat"]),
        csat_rating=rng.choice([1, 3, 4, 5, 5]),
    )


def make_nps(
    product: Product,
    n: int,
    start: datetime,
    score_weights: dict[int, float],
    seed: int = 2,
    days: int = 28,
    segment: dict[str, Any] | None = None,
    prefix: str = "n",
) -> None:
    rng = random.Random(seed)
    scores, weights = list(score_weights), list(score_weights.values())
    NpsResponse.objects.bulk_create(
        [
            NpsResponse(
                product=product,
                source_key="test",
                external_id=f"{prefix}{i}",
                score=rng.choices(scores, weights)[0],
                comment=rng.choice(
                    ["Great product", "Billing export fails constantly", "", "Dark mode please"]
                ),
                segment=segment or {"plan": rng.choice(["free", "pro"])},
                submitted_at=start + timedelta(days=rng.randint(0, days - 1)),
            )
            for i in range(n)
        ]
    )


def make_item(product: Product | None, external_id: str, title: str, description: str = "") -> PortfolioItem:
    return PortfolioItem.objects.create(
        product=product, source_key="test", external_id=external_id, title=title, description=description
    )
