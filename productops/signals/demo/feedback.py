"""Voice of the customer: NPS responses, support tickets, social mentions and the knowledge base.

Comments and ticket bodies are assembled from templates x vocabulary so no two read alike, with the
planted topics (the billing-export ticket spike, the incident's "messages not sending", Canvas's slow
boards after its NPS drop) phrased several ways around one stable phrase a theme detector can find.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import numpy as np
from django.conf import settings

from productops.signals.ingest import UpsertResult, upsert
from productops.signals.models import KbArticle, KbSearch, Mention, NpsResponse, SupportTicket

from . import world
from .metrics import INCIDENT_START
from .portfolio import BILLING_EXPORT_ITEM
from .world import N_DAYS, SOURCE_KEY, ProductSpec

TICKET_SPIKE: dict[str, Any] = {
    "product": "ledger",
    "tag": "billing-export",
    "start": 505,
    "days": 5,
    "extra_per_day": 22,
}
TICKET_SPIKE_PHRASE = "billing export fails"
INCIDENT: dict[str, Any] = {"product": "pulse", "tag": "messages-not-sending", "days": 3, "extra_per_day": 25}
INCIDENT_PHRASE = "messages not sending"
NPS_DROP: dict[str, Any] = {"product": "canvas", "start": 430}
NPS_DROP_PHRASE = "slow to load"

# product -> [(tag, [subject variants], [body sentences]), ...]; the first topics are the common ones.
TOPICS: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "ledger": [
        (
            "invoice-pdf",
            ["Invoice PDF looks wrong", "Logo missing on invoice PDF", "PDF invoice cuts off the last line"],
            ["The PDF we send to customers is missing our logo.", "Line items overflow onto a blank page."],
        ),
        (
            "payment-failed",
            [
                "Customer card payment failed",
                "Payment declined but money taken",
                "Stripe payment not recorded",
            ],
            [
                "A customer paid by card but the invoice still shows unpaid.",
                "The payment shows declined twice.",
            ],
        ),
        (
            "login",
            ["Can't log in", "Password reset e-mail never arrives", "2FA code rejected"],
            ["I reset my password three times and still cannot get in.", "The 2FA code is always invalid."],
        ),
        (
            "tax-rates",
            ["Wrong VAT on invoice", "How do I add a reduced tax rate?", "Tax rate not applied to discount"],
            ["The VAT amount is calculated on the gross price.", "We need a 7% rate for books."],
        ),
        (
            "bank-sync",
            [
                "Bank feed stopped syncing",
                "Transactions duplicated from bank",
                "Reconnect bank account fails",
            ],
            ["Since Monday no new transactions come in from our bank.", "Every transaction appears twice."],
        ),
        (
            "billing-export",
            ["Billing export fails", "CSV export of invoices not working", "Export to accounting times out"],
            ["The billing export fails after a few minutes.", "The exported CSV is empty."],
        ),
    ],
    "pulse": [
        (
            "notifications",
            ["No push notifications", "Notifications arrive late", "Too many e-mail notifications"],
            ["I don't get push notifications on my phone anymore.", "Notifications come an hour late."],
        ),
        (
            "login",
            ["Can't sign in on iPhone", "Logged out every day", "SSO login loops"],
            ["The app logs me out every morning.", "After SSO I land on the login page again."],
        ),
        (
            "message-search",
            [
                "Search doesn't find old messages",
                "Search results in wrong order",
                "Can't search in a channel",
            ],
            ["Searching for a word I know is there returns nothing.", "Results are not sorted by date."],
        ),
        (
            "file-upload",
            ["File upload stuck at 99%", "Can't share a PDF", "Images upload blurry"],
            ["Uploads of more than 20 MB never finish.", "Pictures look compressed after upload."],
        ),
        (
            "calls-quality",
            ["Call audio choppy", "Video freezes in calls", "Echo on calls"],
            ["In every call the audio drops for a few seconds.", "The other side hears an echo."],
        ),
        (
            "messages-not-sending",
            ["Messages not sending", "Message stuck on 'sending'", "Chat messages fail to send"],
            ["My messages are not sending, they stay grey.", "Messages fail to send on mobile."],
        ),
    ],
    "canvas": [
        (
            "export-png",
            ["PNG export is blurry", "Export to PDF loses fonts", "Can't export a frame"],
            ["The exported image is low resolution.", "Custom fonts are replaced in the PDF."],
        ),
        (
            "performance",
            ["Board is slow", "Lag when many people edit", "Browser tab crashes on big board"],
            ["Moving a sticky note takes a second to respond.", "Chrome runs out of memory on our board."],
        ),
        (
            "sharing-permissions",
            ["Guest can edit but shouldn't", "Can't share with external user", "Link sharing disabled"],
            ["Guests with view access can still move items.", "The share link says access denied."],
        ),
        (
            "templates",
            ["Template gallery empty", "Can't save my own template", "Template thumbnails missing"],
            ["The template gallery shows no templates.", "Saving as template gives an error."],
        ),
        (
            "login",
            ["Can't log in with Google", "Magic link expired", "Account locked"],
            ["The Google button does nothing.", "The magic link says it expired right away."],
        ),
        (
            "comments",
            ["Comments disappeared", "Can't mention a teammate", "Comment notifications missing"],
            ["All comments on one frame are gone.", "Typing @ doesn't show my team."],
        ),
    ],
}
TOPIC_WEIGHTS = np.array([0.24, 0.2, 0.2, 0.16, 0.17, 0.03])
GREETINGS = ["Hi,", "Hello team,", "Hi there,", "Good morning,", "Hey,", ""]
CLOSINGS = [
    "Thanks!",
    "Can you please help?",
    "This is urgent for us.",
    "Any update would be great.",
    "Cheers",
]
NAMES = ["Sam Carter", "Ana Souza", "Jonas Weber", "Mei Lin", "Ravi Kumar", "Claire Dubois", "Tom Evans"]
COMPANIES = [
    "Northwind Ltd",
    "Brightside GmbH",
    "Acme Studio",
    "Kestrel & Co",
    "Bluefin SAS",
    "Mapleleaf Inc",
]
DETAILS = [
    "It started after the last update.",
    "It happens in Chrome and Safari.",
    "Three of my colleagues see the same thing.",
    "We already tried logging out and in again.",
    "Screenshot attached.",
    "This blocks our month-end close.",
    "It worked fine last week.",
    "Not sure if this is a bug or a setting.",
]
SUMMARIES = [
    "Basically: {phrase}, {when}.",
    "In short, {phrase} {when}.",
    "TL;DR {phrase} {when}.",
    "So: {phrase}.",
]
QUOTES = [
    "On Mon, our support team wrote: Could you send us a screenshot?",
    "On Tue, Support wrote: Thanks for reaching out, we are looking into it.",
    "Previously: Which browser and version are you using?",
]
CHANNELS = ["email", "chat", "web", "phone"]
CHANNEL_WEIGHTS = np.array([0.45, 0.3, 0.2, 0.05])
PRIORITIES = ["low", "normal", "high", "urgent"]
PRIORITY_WEIGHTS = np.array([0.25, 0.55, 0.15, 0.05])
CHANNEL_CUM, PRIORITY_CUM = np.cumsum(CHANNEL_WEIGHTS), np.cumsum(PRIORITY_WEIGHTS)

PLANS = ["free", "pro", "business"]
NPS_PRAISE = {
    "ledger": ["sending invoices", "the payment reminders", "the bank sync", "the reports"],
    "pulse": ["the mobile app", "group calls", "threads", "the search"],
    "canvas": ["the templates", "real-time collaboration", "sticky notes", "the comments"],
}
NPS_PAIN = {
    "ledger": ["the tax settings", "the PDF layout", "the bank feed", "exporting invoices"],
    "pulse": ["notifications", "the desktop app", "file uploads", "call quality"],
    "canvas": ["exporting", "permissions", "the pricing", "the mobile app"],
}
PROMOTER = [
    "Love {praise}, it saves me hours every week.",
    "{Praise} just works. Recommended it to two friends already.",
    "Great product, especially {praise}.",
    "Best tool we have adopted this year; {praise} is excellent.",
    "Very happy with {praise}.",
]
PASSIVE = [
    "Good overall, but {pain} could be better.",
    "{Praise} is nice. {Pain} is a bit clunky.",
    "Does the job. Would like more control over {pain}.",
    "Solid, though {pain} confuses new colleagues.",
    "",
]
DETRACTOR = [
    "Frustrated with {pain}, it breaks every other week.",
    "{Pain} is a mess and support takes days to answer.",
    "Thinking about switching because of {pain}.",
    "Too expensive for what it does; {pain} is unreliable.",
    "",
]
SLOW_BOARDS = [
    "Boards are so slow to load lately, we lose minutes every meeting.",
    "Since the last update everything is slow to load, especially big boards.",
    "Our workshop board is slow to load and sometimes doesn't open at all.",
    "Great idea but it's slow to load now; used to be snappy.",
]


def hash_email(email: str) -> str:
    """The keyed hash stored instead of an e-mail address (HMAC-SHA256 with PII_HASH_KEY)."""
    return hmac.new(settings.PII_HASH_KEY.encode(), email.lower().encode(), hashlib.sha256).hexdigest()


def _weighted(rng: np.random.Generator, cumulative: np.ndarray) -> int:
    """An index drawn with the given cumulative weights (much cheaper per call than rng.choice(p=...))."""
    return min(
        int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(cumulative) - 1
    )


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(template: str, praise: str, pain: str) -> str:
    return template.format(
        praise=praise, Praise=praise[:1].upper() + praise[1:], pain=pain, Pain=pain[:1].upper() + pain[1:]
    )


def nps_rows(spec: ProductSpec, product_id: int, index: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = world.rng(seed, "nps", index)
    countries, shares = world.countries_for_scale(1)
    per_day = rng.poisson(4.0, N_DAYS)
    n = 0
    for d in range(N_DAYS):
        dropped = spec.slug == NPS_DROP["product"] and d >= NPS_DROP["start"]
        # (promoter, passive, detractor) shares; the drop moves a third of promoters to detractors.
        probs = [0.30, 0.28, 0.42] if dropped else [0.52, 0.30, 0.18]
        for _ in range(per_day[d]):
            n += 1
            group = int(rng.choice(3, p=probs))
            score = (
                int(rng.choice([9, 10]))
                if group == 0
                else int(rng.choice([7, 8]))
                if group == 1
                else int(rng.choice([0, 1, 2, 3, 4, 5, 6], p=[0.05, 0.05, 0.08, 0.12, 0.2, 0.25, 0.25]))
            )
            praise, pain = _pick(rng, NPS_PRAISE[spec.slug]), _pick(rng, NPS_PAIN[spec.slug])
            if dropped and group == 2 and rng.random() < 0.7:
                comment = _pick(rng, SLOW_BOARDS)
            else:
                comment = _fill(_pick(rng, [PROMOTER, PASSIVE, DETRACTOR][group]), praise, pain)
            email = f"user{int(rng.integers(1, 40000))}@{spec.slug}-customer.example"
            yield {
                "source_key": SOURCE_KEY,
                "external_id": f"nps-{spec.slug}-{n}",
                "product_id": product_id,
                "score": score,
                "comment": comment,
                "segment": {
                    "plan": _pick(rng, PLANS),
                    "country": countries[int(rng.choice(len(countries), p=shares))],
                },
                "respondent_hash": hash_email(email),
                "submitted_at": world.at(d, float(rng.integers(6 * 3600, 22 * 3600))),
            }


def _html_body(
    rng: np.random.Generator, greeting: str, sentences: list[str], closing: str
) -> tuple[str, str]:
    name, company = _pick(rng, NAMES), _pick(rng, COMPANIES)
    text = " ".join(s for s in [greeting, *sentences, closing] if s)
    if rng.random() < 0.35:
        quoted = _pick(rng, QUOTES)
        html = (
            f"<div><p>{greeting}</p><p>{' '.join(sentences)}</p><p>{closing}</p>"
            f'<p class="signature">--<br>{name}<br>{company}</p>'
            f"<blockquote>{quoted}</blockquote></div>"
        )
        plain = f"{text}\n--\n{name}\n{company}\n> {quoted}"
        return html, plain
    plain = f"{text}\n\n{name}, {company}"
    return plain, plain


def ticket_rows(
    spec: ProductSpec, product_id: int, index: int, seed: int, scale: int
) -> Iterator[dict[str, Any]]:
    rng = world.rng(seed, "tickets", index)
    topics = TOPICS[spec.slug if spec.slug in TOPICS else world.PRODUCTS[index % 3].slug]
    # ~9k tickets at scale 1; the extra (benchmark) products get busier desks: ~500k in all at scale 10.
    rate = 6.0 if index < 3 else 6.0 * scale**0.8
    weekly = np.array([1.1, 1.05, 1.0, 1.0, 0.95, 0.5, 0.45])
    dows = np.array([world.day(d).weekday() for d in range(N_DAYS)])
    per_day = rng.poisson(rate * weekly[dows] * np.linspace(0.85, 1.2, N_DAYS))
    n = 0
    for d in range(N_DAYS):
        planted: list[int] = []
        if index < 3:
            if spec.slug == TICKET_SPIKE["product"] and 0 <= d - TICKET_SPIKE["start"] < TICKET_SPIKE["days"]:
                planted = [5] * int(TICKET_SPIKE["extra_per_day"])
            if spec.slug == INCIDENT["product"] and 0 <= d - INCIDENT_START < INCIDENT["days"]:
                planted = [5] * int(INCIDENT["extra_per_day"])
        topic_ids = rng.choice(len(topics), size=per_day[d], p=TOPIC_WEIGHTS).tolist() + planted
        for topic_id in topic_ids:
            n += 1
            tag, subjects, sentences = topics[topic_id]
            spike_ticket = topic_id == 5 and index < 3
            body_sentences = [_pick(rng, sentences)]
            phrase = {"ledger": TICKET_SPIKE_PHRASE, "pulse": INCIDENT_PHRASE}.get(spec.slug)
            if spike_ticket and phrase and rng.random() < 0.6:
                when = _pick(rng, ["again", "since yesterday", "for all of us", "every time"])
                body_sentences.append(_pick(rng, SUMMARIES).format(phrase=phrase, when=when))
            if rng.random() < 0.5:
                body_sentences.append(_pick(rng, DETAILS))
            if rng.random() < 0.5:
                body_sentences.append(f"Our account id is {int(rng.integers(10000, 99999))}.")
            body, body_text = _html_body(rng, _pick(rng, GREETINGS), body_sentences, _pick(rng, CLOSINGS))
            opened = world.at(d, float(rng.integers(0, 86400)))
            age_days = N_DAYS - 1 - d
            first_hours = float(rng.lognormal(np.log(3.0), 0.9))
            solve_hours = first_hours + float(rng.lognormal(np.log(20.0), 1.0))
            first = opened + dt.timedelta(seconds=int(first_hours * 3600))
            solved = opened + dt.timedelta(seconds=int(solve_hours * 3600))
            if age_days < 3 and rng.random() < 0.7:
                status = _pick(rng, ["new", "open", "pending"])
                solved_at = None
                first_at = first if status != "new" else None
            else:
                status = "closed" if age_days > 20 else "solved"
                solved_at, first_at = solved, first
            csat = None
            if solved_at is not None and rng.random() < 0.45:
                good = 0.85 - min(solve_hours, 120) / 300 - (0.3 if spike_ticket else 0)
                csat = (4 + int(rng.random() < 0.6)) if rng.random() < good else 1 + int(rng.integers(3))
            extra_tags = (
                [_pick(rng, ["vip", "bug", "question", "feature-request"])] if rng.random() < 0.4 else []
            )
            yield {
                "source_key": SOURCE_KEY,
                "external_id": f"ticket-{spec.slug}-{n}",
                "product_id": product_id,
                "subject": _pick(rng, subjects),
                "body": body,
                "body_text": body_text,
                "status": status,
                "priority": PRIORITIES[_weighted(rng, PRIORITY_CUM)] if not spike_ticket else "high",
                "tags": sorted({tag, *extra_tags}),
                "channel": CHANNELS[_weighted(rng, CHANNEL_CUM)],
                "opened_at": opened,
                "first_response_at": first_at,
                "solved_at": solved_at,
                "csat_rating": csat,
            }


MENTION_TEXTS = {
    "positive": [
        "We moved our whole team to {name} last month and haven't looked back.",
        "{name} is underrated. The {feature} alone is worth it.",
        "{name}'s {feature} is the smoothest I've used.",
        "Switched from a spreadsheet to {name}; {feature} saved us a day a week.",
        "Credit where due: {name} fixed {feature} within a day of my report.",
    ],
    "neutral": [
        "Has anyone compared {name} with the alternatives for a 20-person team?",
        "{name} just announced changes to {feature}; anyone tried it?",
        "Is {name}'s pricing per seat or per workspace?",
        "Does {name} have an API for {feature}, or is it UI only?",
        "Curious how {name} handles {feature} for teams in several time zones.",
    ],
    "negative": [
        "{name} has been flaky this week, {feature} keeps failing.",
        "Cancelled {name}. Support never replied about {feature}.",
        "Why is {name}'s {feature} still so slow?",
        "{name} changed {feature} again without telling anyone.",
        "Am I the only one whose {feature} in {name} broke after the update?",
    ],
}
MENTION_OPENERS = ["", "", "Honest question: ", "PSA: ", "Small rant: ", "FWIW, ", "Update: "]


def mention_rows(specs: list[ProductSpec], products: dict[str, int], seed: int) -> Iterator[dict[str, Any]]:
    rng = world.rng(seed, "mentions")
    n = 0
    for spec in specs[:3]:
        for d in range(N_DAYS):
            for _ in range(int(rng.poisson(0.6))):
                n += 1
                platform = "hackernews" if rng.random() < 0.4 else "reddit"
                mood = str(rng.choice(["positive", "neutral", "negative"], p=[0.4, 0.35, 0.25]))
                feature = _pick(rng, NPS_PRAISE[spec.slug] + NPS_PAIN[spec.slug]).removeprefix("the ")
                text = _pick(rng, MENTION_OPENERS) + _pick(rng, MENTION_TEXTS[mood]).format(
                    name=spec.name, feature=feature
                )
                ident = int(rng.integers(10**7, 10**8))
                url = (
                    f"https://news.ycombinator.com/item?id={ident}"
                    if platform == "hackernews"
                    else f"https://www.reddit.com/r/SaaS/comments/{ident:x}/"
                )
                yield {
                    "source_key": SOURCE_KEY,
                    "external_id": f"mention-{n}",
                    "product_id": products[spec.slug],
                    "platform": platform,
                    "url": url,
                    "title": text[:80],
                    "text": text,
                    "author_hash": hash_email(f"author{int(rng.integers(1, 5000))}@{platform}.example"),
                    "posted_at": world.at(d, float(rng.integers(0, 86400))),
                    "score": int(rng.geometric(0.05)),
                }


KB_TITLES = [
    "Getting started with {name}",
    "How to invite your team",
    "Managing billing and invoices",
    "Exporting your data",
    "Setting up single sign-on",
    "Troubleshooting login problems",
    "Using {name} on mobile",
    "Keyboard shortcuts",
    "Notification settings explained",
    "Deleting your account",
    "Integrations overview",
    "Security and data retention",
]
KB_TERMS = ["export", "invoice", "sso", "delete account", "api key", "dark mode", "offline", "refund"]


def kb_rows(
    specs: list[ProductSpec], products: dict[str, int], seed: int
) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]]]:
    rng = world.rng(seed, "kb")
    articles = []
    for spec in specs[:3]:
        for i, title in enumerate(KB_TITLES):
            views = int(rng.integers(200, 20000))
            helpful = int(views * rng.uniform(0.01, 0.05))
            articles.append(
                {
                    "source_key": SOURCE_KEY,
                    "external_id": f"kb-{spec.slug}-{i + 1}",
                    "product_id": products[spec.slug],
                    "title": title.format(name=spec.name),
                    "url": f"https://help.{spec.slug}.example/articles/{i + 1}",
                    "views": views,
                    "helpful_votes": helpful,
                    "unhelpful_votes": int(helpful * rng.uniform(0.05, 0.8)),
                    "updated_at_source": world.at(int(rng.integers(0, N_DAYS))),
                }
            )

    def searches() -> Iterator[dict[str, Any]]:
        for spec in specs[:3]:
            for d in range(N_DAYS - 90, N_DAYS):
                for term in KB_TERMS:
                    count = int(rng.poisson(12 if term == "export" and spec.slug == "ledger" else 5))
                    if count == 0:
                        continue
                    yield {
                        "source_key": SOURCE_KEY,
                        "external_id": f"kbs-{spec.slug}-{term.replace(' ', '-')}-{world.iso(d)}",
                        "product_id": products[spec.slug],
                        "term": term,
                        "date": world.day(d),
                        "searches": count,
                        "no_result_searches": int(
                            rng.binomial(count, 0.3 if term in {"offline", "dark mode"} else 0.05)
                        ),
                    }

    return articles, searches()


def seed_feedback(
    products: dict[str, int],
    teams: dict[str, int],
    specs: list[ProductSpec],
    seed: int,
    scale: int,
    truth: dict[str, Any],
) -> dict[str, UpsertResult]:
    nps, tickets = UpsertResult(), UpsertResult()
    for index, spec in enumerate(specs):
        if index < 3:
            nps += upsert(NpsResponse, nps_rows(spec, products[spec.slug], index, seed))
        tickets += upsert(
            SupportTicket, ticket_rows(spec, products[spec.slug], index, seed, scale), batch_size=2000
        )
        world.forget_queries()
    mentions = upsert(Mention, mention_rows(specs, products, seed))
    articles, searches = kb_rows(specs, products, seed)
    kb = upsert(KbArticle, articles)
    kb_searches = upsert(KbSearch, searches)

    spike_start = int(TICKET_SPIKE["start"])
    truth["ticket_spike"] = {
        "product": TICKET_SPIKE["product"],
        "tag": TICKET_SPIKE["tag"],
        "start": world.iso(spike_start),
        "end": world.iso(spike_start + int(TICKET_SPIKE["days"]) - 1),
        "phrase": TICKET_SPIKE_PHRASE,
        "portfolio_item": BILLING_EXPORT_ITEM,
        "extra_per_day": TICKET_SPIKE["extra_per_day"],
    }
    truth["nps_shift"] = {
        "product": NPS_DROP["product"],
        "start": world.iso(int(NPS_DROP["start"])),
        "end": world.END_DATE.isoformat(),
        "direction": "down",
        "phrase": NPS_DROP_PHRASE,
    }
    truth["themes"] = [
        {"phrase": TICKET_SPIKE_PHRASE, "product": "ledger", "source": "tickets"},
        {"phrase": INCIDENT_PHRASE, "product": "pulse", "source": "tickets"},
        {"phrase": NPS_DROP_PHRASE, "product": "canvas", "source": "nps"},
    ]
    return {
        "nps_responses": nps,
        "support_tickets": tickets,
        "mentions": mentions,
        "kb_articles": kb,
        "kb_searches": kb_searches,
    }
