"""Benchmark: sentiment and themes over 200,000 synthetic feedback texts.

Seeds 200k support tickets into the database from DATABASE_URL (not timed), then times the feedback
recompute: clean + score sentiment for every row and store it, cluster the texts into themes, write
theme members, link themes to portfolio items and raise theme insights. Cleans up after itself.

    python bench/feedback.py [--texts 200000]

Last line: feedback: texts=200000 seconds=S peak_rss_mb=M   (goal: < 120 s and < 3 GB)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

TOPICS = [
    ("billing export fails", "the csv file is empty and the export job times out"),
    ("password reset email never arrives", "I checked spam and the reset link is missing"),
    ("dark mode request", "working at night would be easier with a dark theme"),
    ("invoice pdf shows wrong vat", "the gross price on the invoice is calculated wrong"),
    ("bank feed stopped syncing", "transactions from the bank account no longer appear"),
    ("mobile app crashes on launch", "the android app closes right after the splash screen"),
    ("notifications arrive late", "push notifications come an hour after the message"),
    ("search returns old results", "searching a word shows results in the wrong order"),
    ("sso login loops", "after the identity provider I land on the login page again"),
    ("file uploads stall", "uploads over ten megabytes never finish"),
    ("calls drop audio", "the other side hears an echo and audio drops for seconds"),
    ("template gallery error", "saving a template gives an error and the gallery is empty"),
    ("share link access denied", "guests with the share link see access denied"),
    ("board slow to load", "big boards take a long time to load and the tab crashes"),
    ("pdf export loses fonts", "custom fonts are replaced when exporting to pdf"),
    ("payment declined twice", "the card payment was declined but the customer was charged"),
    ("api rate limit too low", "our integration hits the rate limit every morning"),
    ("reports load slowly", "the monthly report takes minutes to render"),
    ("calendar sync duplicates", "every event shows up twice after the calendar sync"),
    ("great product love it", "the team loves the new dashboard and it saves hours"),
]
OPENERS = ["Hi team,", "Hello,", "Hey,", "Good morning,", "Dear support,", ""]
MOODS = [
    "This is really frustrating.",
    "Please help asap.",
    "Thanks for the great work otherwise!",
    "We are losing time every day.",
    "Not urgent.",
    "Our customers are complaining.",
    "",
]
CONTEXT = [
    "since the last update",
    "on chrome",
    "on our windows laptops",
    "for the finance team",
    "for all users in our workspace",
    "every monday",
    "after we upgraded our plan",
    "again today",
]
SIGNOFF = ["\n\nBest regards,\nAlex", "\n\nThanks,\nSam\nHead of Ops", "\n-- \nJordan | ACME", "", ""]


def synthetic_texts(n: int, seed: int = 42) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, len(TOPICS), n)
    pick = lambda seq: rng.integers(0, len(seq), n)  # noqa: E731
    opener, mood, ctx, sign = pick(OPENERS), pick(MOODS), pick(CONTEXT), pick(SIGNOFF)
    account = rng.integers(1000, 99999, n)
    subjects = [TOPICS[t][0].capitalize() + f" {CONTEXT[c]}" for t, c in zip(topic, ctx, strict=True)]
    bodies = [
        f"{OPENERS[o]} {TOPICS[t][0]} {CONTEXT[c]}. {TOPICS[t][1]}. {MOODS[m]} Account {a}.{SIGNOFF[s]}"
        for t, o, m, c, a, s in zip(topic, opener, mood, ctx, account, sign, strict=True)
    ]
    return subjects, bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=200_000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    from insights.feedback import services
    from insights.feedback.models import Theme
    from productops.portfolio.models import PortfolioItem, Product
    from productops.signals.models import SupportTicket

    Product.objects.filter(slug="bench-feedback").delete()
    product = Product.objects.create(name="Bench feedback", slug="bench-feedback")
    try:
        subjects, bodies = synthetic_texts(args.texts)
        end = datetime(2026, 11, 1, tzinfo=UTC)
        rng = np.random.default_rng(7)
        minutes = rng.integers(0, 180 * 24 * 60, args.texts)
        rows = (
            SupportTicket(
                product=product,
                source_key="bench",
                external_id=f"b{i}",
                subject=s,
                body_text=b,
                opened_at=end - timedelta(minutes=int(m)),
            )
            for i, (s, b, m) in enumerate(zip(subjects, bodies, minutes, strict=True))
        )
        seed_start = time.perf_counter()
        batch: list[SupportTicket] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 10_000:
                SupportTicket.objects.bulk_create(batch)
                batch = []
        SupportTicket.objects.bulk_create(batch)
        for i, (title, detail) in enumerate(TOPICS):
            PortfolioItem.objects.create(
                product=product,
                source_key="bench",
                external_id=f"BENCH-{i}",
                title=f"Fix {title}",
                description=detail,
            )
        print(
            f"seeded {args.texts} tickets in {time.perf_counter() - seed_start:.1f}s (not timed)", flush=True
        )

        start, cpu_start = time.perf_counter(), time.process_time()
        result = services.recompute_feedback(product_ids=[product.pk], full=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        themes = Theme.objects.filter(product=product, status="active").order_by("-size")
        print(f"recompute: {result}")
        # On a shared machine wall time includes waiting for a core; this process's own CPU time does not
        # (PostgreSQL's share of the work is in the wall time only).
        load = os.getloadavg()[0]
        print(f"process cpu seconds={cpu:.1f}, load average={load:.1f} on {os.cpu_count()} cores")
        for theme in themes[:8]:
            print(f"  theme {theme.size:>6}  {theme.label}")
    finally:
        Product.objects.filter(slug="bench-feedback").delete()
        PortfolioItem.objects.filter(source_key="bench").delete()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"feedback: texts={args.texts} seconds={seconds:.1f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
