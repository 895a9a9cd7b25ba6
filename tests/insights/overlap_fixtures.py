"""A small synthetic portfolio with planted overlaps, shared by the overlap tests."""

from __future__ import annotations

from datetime import date
from typing import Any

# (key, team, title, description, components, labels, start, end, status)
ITEMS: list[tuple[str, str, str, str, list[str], list[str], date, date, str]] = [
    (
        "PAY-1",
        "payments",
        "Export invoices as CSV for finance",
        "Finance needs a CSV export of all invoices with tax lines.",
        ["billing"],
        ["finance"],
        date(2026, 3, 1),
        date(2026, 5, 1),
        "in_progress",
    ),
    (
        "GRO-7",
        "growth",
        "CSV export of invoices for the finance team",
        "Let finance download invoices as a CSV file, including tax.",
        ["reports"],
        ["finance"],
        date(2026, 3, 15),
        date(2026, 5, 15),
        "todo",
    ),
    (
        "PAY-2",
        "payments",
        "Redesign the checkout page",
        "New layout for the checkout page.",
        ["checkout"],
        [],
        date(2026, 2, 1),
        date(2026, 4, 1),
        "in_progress",
    ),
    (
        "PAY-3",
        "payments",
        "Checkout page redesign follow-ups",
        "Polish the redesigned checkout page.",
        ["checkout"],
        [],
        date(2026, 4, 1),
        date(2026, 5, 1),
        "todo",
    ),
    (
        "GRO-8",
        "growth",
        "Onboarding checklist for new workspaces",
        "A checklist that guides new workspaces through their first week.",
        ["onboarding"],
        [],
        date(2026, 3, 1),
        date(2026, 5, 30),
        "in_progress",
    ),
    (
        "MOB-3",
        "mobile",
        "Onboarding carousel in the mobile app",
        "Swipeable onboarding screens for first launch on iOS and Android.",
        ["onboarding"],
        [],
        date(2026, 4, 1),
        date(2026, 6, 30),
        "todo",
    ),
    (
        "PLAT-42",
        "platform",
        "Upgrade the API rate limiter",
        "Move rate limiting to the gateway with per-plan quotas.",
        ["gateway"],
        [],
        date(2026, 2, 1),
        date(2026, 4, 30),
        "in_progress",
    ),
    (
        "MOB-9",
        "mobile",
        "Offline sync for notes",
        "Notes sync when the phone comes back online. Blocked until PLAT-42 ships the new quotas.",
        ["sync"],
        [],
        date(2026, 3, 1),
        date(2026, 6, 1),
        "todo",
    ),
    (
        "PLAT-50",
        "platform",
        "Rotate database credentials automatically",
        "Vault-based rotation for Postgres.",
        ["infra"],
        [],
        date(2026, 1, 1),
        date(2026, 3, 1),
        "done",
    ),
    (
        "GRO-9",
        "growth",
        "Referral programme landing page",
        "Invite friends, earn credits.",
        ["marketing-site"],
        [],
        date(2026, 5, 1),
        date(2026, 7, 1),
        "todo",
    ),
    (
        "MOB-10",
        "mobile",
        "Dark mode for the mobile app",
        "Follow the system theme on iOS and Android.",
        ["ui"],
        [],
        date(2026, 1, 1),
        date(2026, 3, 1),
        "in_progress",
    ),
    (
        "PAY-4",
        "payments",
        "Support SEPA direct debit",
        "Add SEPA mandates and debit collection for EU customers.",
        ["billing"],
        [],
        date(2026, 6, 1),
        date(2026, 8, 1),
        "todo",
    ),
]

EXPERIMENTS: list[dict[str, Any]] = [
    {
        "key": "pricing-annual-toggle",
        "team": "growth",
        "name": "Annual toggle on pricing",
        "surface": "pricing page",
        "metric": "trial_to_paid",
        "start": date(2026, 4, 1),
        "end": date(2026, 5, 1),
    },
    {
        "key": "pricing-badge-test",
        "team": "payments",
        "name": "Most popular badge",
        "surface": "pricing page",
        "metric": "trial_to_paid",
        "start": date(2026, 4, 15),
        "end": date(2026, 5, 15),
    },
    {
        "key": "search-ranking-v2",
        "team": "platform",
        "name": "Search ranking v2",
        "surface": "search",
        "metric": "search_success",
        "start": date(2026, 4, 1),
        "end": date(2026, 5, 1),
    },
]

# Ground truth in the demo's shape: pairs of keys and the kind.
EXPECTED = [
    {"a": "PAY-1", "b": "GRO-7", "kind": "duplicate"},
    {"a": "GRO-8", "b": "MOB-3", "kind": "conflict"},
    {"a": "MOB-9", "b": "PLAT-42", "kind": "hidden_dependency"},
    {"a": "pricing-annual-toggle", "b": "pricing-badge-test", "kind": "conflict"},
]


def plain_items() -> list[dict[str, Any]]:
    """The fixture as plain dicts for find_overlaps (ref = key, product = one product)."""
    out: list[dict[str, Any]] = []
    for key, team, title, desc, comps, labels, start, end, status in ITEMS:
        out.append(
            {
                "ref": key,
                "key": key,
                "team": team,
                "title": title,
                "description": desc,
                "components": comps,
                "labels": labels,
                "start": start,
                "end": end,
                "status": status,
                "product": "app",
            }
        )
    for exp in EXPERIMENTS:
        out.append(
            {
                "ref": exp["key"],
                "key": exp["key"],
                "team": exp["team"],
                "title": exp["name"],
                "kind": "experiment",
                "surface": exp["surface"],
                "metric": exp["metric"],
                "start": exp["start"],
                "end": exp["end"],
                "status": "in_progress",
                "product": "app",
            }
        )
    return out
