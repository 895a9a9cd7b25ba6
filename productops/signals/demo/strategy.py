"""User research and competitors for the demo, with planted outcomes.

- Three studies in Q4 2026. Growth's "Onboarding interviews" (Ledger) and Mobile's "Invite flow diary
  study" (Pulse) ask the same question (why new admins don't invite their team) in the same quarter:
  **redundant research**. Payments' "Billing export usability test" is about something else.
- Two competitors: Quillbooks (aliases "Quill Books", "QuillBooks Online"; quillbooks.com), named in
  Ledger's social mentions, and Boardly ("Boardly Pro"; boardly.io), named in Canvas's. Both come up
  a couple of times a week; in the last week of data (16-22 Nov 2026) Quillbooks is named
  `SPIKE_EXTRA` more times ("switching to Quillbooks because export is slow"): **a mention spike**.
- Decoys that must not count: "quillbookstore", "Boardlyness" (the names inside other words).

Rows are upserted on natural keys (source_key "demo"), so a re-run changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from productops.competitors.models import Competitor
from productops.research.models import Highlight, Study, StudyNote
from productops.signals.ingest import UpsertResult, upsert
from productops.signals.models import Mention

from . import world
from .world import N_DAYS, SOURCE_KEY

SPIKE_EXTRA = 16
SPIKE_START = N_DAYS - 7  # Monday 2026-11-16
BASELINE_FROM = N_DAYS - 26 * 7  # half a year of ordinary chatter before the spike

COMPETITORS = [
    ("Quillbooks", "quillbooks", ["Quill Books", "QuillBooks Online"], ["quillbooks.com"], "ledger"),
    ("Boardly", "boardly", ["Boardly Pro"], ["boardly.io"], "canvas"),
]

# external id, title, question, method, start, end, participants, owner, product, team, tags, highlights
STUDIES: list[dict[str, Any]] = [
    {
        "external_id": "study-onboarding-interviews",
        "title": "Onboarding interviews",
        "question": "Why do new workspace admins stall before inviting their team?",
        "method": "interviews",
        "started_on": dt.date(2026, 10, 12),
        "ended_on": dt.date(2026, 10, 30),
        "participants": 8,
        "owner_name": "Priya Nair",
        "product": "ledger",
        "team": "growth",
        "tags": ["onboarding", "invites"],
        "notes": [
            ("Interview 1: Dana, bookkeeper at a 12-person agency", "SMB admin"),
            ("Interview 2: Luis, IT manager", "Enterprise IT"),
            ("Synthesis", ""),
        ],
        "highlights": [
            (
                "I honestly could not find where to invite my team, so we kept using Quillbooks for a week.",
                "SMB admin",
                ["invites", "navigation"],
            ),
            (
                "Invites only make sense once our chart of accounts is set up, and nobody told me that.",
                "SMB admin",
                ["onboarding", "invites"],
            ),
            (
                "SSO setup blocked the rollout; invites only work once SCIM is on.",
                "Enterprise IT",
                ["invites", "sso"],
            ),
            ("The setup checklist is great, I love seeing my progress.", "SMB admin", ["onboarding"]),
        ],
    },
    {
        "external_id": "study-invite-diary",
        "title": "Invite flow diary study",
        "question": "What stops new admins from inviting teammates during onboarding?",
        "method": "diary",
        "started_on": dt.date(2026, 10, 19),
        "ended_on": dt.date(2026, 11, 6),
        "participants": 6,
        "owner_name": "Tom Okafor",
        "product": "pulse",
        "team": "mobile",
        "tags": ["invites", "onboarding", "activation"],
        "notes": [("Diary week 1", "Team lead"), ("Diary week 2", "Team lead")],
        "highlights": [
            (
                "Day 3: still waiting for teammates to accept. The invite email looks like spam.",
                "Team lead",
                ["invites", "email"],
            ),
            (
                "I didn't invite anyone until I had a channel worth showing them.",
                "Team lead",
                ["invites", "activation"],
            ),
            (
                "Resending the invite from the phone app is buried three menus deep.",
                "Team lead",
                ["invites", "mobile"],
            ),
        ],
    },
    {
        "external_id": "study-billing-export-usability",
        "title": "Billing export usability test",
        "question": "How do finance teams get invoices into their accounting tool at month end?",
        "method": "usability",
        "started_on": dt.date(2026, 11, 2),
        "ended_on": dt.date(2026, 11, 9),
        "participants": 5,
        "owner_name": "Ana Ruiz",
        "product": "ledger",
        "team": "payments",
        "tags": ["billing", "export"],
        "notes": [("Session notes", "Finance team")],
        "highlights": [
            (
                "The billing export is so slow at month end that I copy invoices into Quill Books by hand.",
                "Finance team",
                ["export", "performance"],
            ),
            ("Export to CSV timed out twice with 4,000 invoices.", "Finance team", ["export", "performance"]),
            (
                "If the export matched quillbooks.com's import format I would never leave.",
                "Finance team",
                ["export"],
            ),
        ],
    },
]

MENTION_TEXTS = [
    "Anyone compared {product} with {term}? Pricing looks similar.",
    "We moved from {term} back to {product}; their reports were confusing.",
    "Checked {term} today, {product} still wins for us.",
    "Our accountant keeps asking why we don't just use {term}.",
    "{term} vs {product} for a small team: which one syncs better?",
]
SPIKE_TEXTS = [
    "Switching to {term} because the {product} export is slow at month end.",
    "Export timed out again, seriously considering {term}.",
    "{product}'s billing export broke our close; trialling {term} this week.",
]
DECOYS = [
    ("ledger", "Picked up a book at the quillbookstore downtown, unrelated but fun."),
    ("canvas", "The Boardlyness of this whiteboard is a feature, not a bug."),
]


def _mentions(products: dict[str, int], seed: int) -> list[dict[str, Any]]:
    rng = world.rng(seed, "competitor-mentions")
    rows: list[dict[str, Any]] = []
    product_names = {spec.slug: spec.name for spec in world.PRODUCTS}

    def add(slug: str, d: int, text: str) -> None:
        rows.append(
            {
                "source_key": SOURCE_KEY,
                "external_id": f"competitor-{len(rows) + 1}",
                "product_id": products[slug],
                "platform": "reddit" if rng.random() < 0.6 else "hackernews",
                "url": f"https://www.reddit.com/r/smallbusiness/comments/c{len(rows) + 1:05d}/",
                "title": text[:80],
                "text": text,
                "posted_at": world.at(d, float(rng.integers(0, 86400))),
                "score": int(rng.integers(1, 40)),
            }
        )

    for name, _slug, aliases, domains, product in COMPETITORS:
        terms = [name, name.lower(), *aliases, *domains]
        for week_start in range(BASELINE_FROM, N_DAYS, 7):
            for _ in range(int(rng.poisson(2.0))):
                d = week_start + int(rng.integers(0, 7))
                text = str(rng.choice(MENTION_TEXTS)).format(
                    term=str(rng.choice(terms)), product=product_names[product]
                )
                add(product, min(d, N_DAYS - 1), text)
    for i in range(SPIKE_EXTRA):
        text = SPIKE_TEXTS[i % len(SPIKE_TEXTS)].format(
            term=["Quillbooks", "Quill Books", "QUILLBOOKS"][i % 3], product="Ledger"
        )
        add("ledger", SPIKE_START + i % 7, text)
    for slug, text in DECOYS:
        add(slug, N_DAYS - 3, text)
    return rows


def seed_strategy(
    products: dict[str, int], teams: dict[str, int], seed: int, truth: dict[str, Any]
) -> dict[str, UpsertResult]:
    for name, slug, aliases, domains, _product in COMPETITORS:
        Competitor.objects.get_or_create(
            slug=slug, defaults={"name": name, "aliases": aliases, "domains": domains}
        )
    mentions = upsert(Mention, _mentions(products, seed))

    studies = UpsertResult()
    studies += upsert(
        Study,
        [
            {
                "source_key": SOURCE_KEY,
                "external_id": s["external_id"],
                "title": s["title"],
                "question": s["question"],
                "method": s["method"],
                "started_on": s["started_on"],
                "ended_on": s["ended_on"],
                "participants": s["participants"],
                "owner_name": s["owner_name"],
                "product_id": products[s["product"]],
                "team_id": teams[s["team"]],
                "tags": s["tags"],
            }
            for s in STUDIES
        ],
    )
    ids = dict(
        Study.objects.filter(
            source_key=SOURCE_KEY, external_id__in=[s["external_id"] for s in STUDIES]
        ).values_list("external_id", "pk")
    )
    notes, highlights = [], []
    for s in STUDIES:
        start = dt.datetime.combine(s["started_on"], dt.time(10), tzinfo=dt.UTC)
        for i, (title, segment) in enumerate(s["notes"]):
            notes.append(
                {
                    "study_id": ids[s["external_id"]],
                    "external_id": f"note-{i + 1}",
                    "title": title,
                    "text": f"{title}. " + " ".join(q for q, seg, _ in s["highlights"] if seg == segment),
                    "segment": segment,
                    "created_at": start + dt.timedelta(days=2 * i),
                }
            )
        for i, (quote, segment, tags) in enumerate(s["highlights"]):
            highlights.append(
                {
                    "study_id": ids[s["external_id"]],
                    "external_id": f"highlight-{i + 1}",
                    "quote": quote,
                    "segment": segment,
                    "tags": tags,
                    "created_at": start + dt.timedelta(days=i, hours=1),
                }
            )
    studies += upsert(StudyNote, notes)
    studies += upsert(Highlight, highlights)
    truth["research"] = {
        "studies": [s["external_id"] for s in STUDIES],
        "redundant": ["study-onboarding-interviews", "study-invite-diary"],
        "quarter": "2026-Q4",
    }
    truth["competitors"] = {
        "names": [c[1] for c in COMPETITORS],
        "spike": {
            "competitor": "quillbooks",
            "week": world.iso(SPIKE_START),
            "extra": SPIKE_EXTRA,
            "phrase": "switching to Quillbooks because the Ledger export is slow",
        },
        "decoys": [text for _slug, text in DECOYS],
    }
    return {"competitor_mentions": mentions, "studies": studies}
