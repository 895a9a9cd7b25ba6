"""Portfolio items for six teams (initiatives > epics > stories), dependencies and planted overlaps.

The planted pairs are written in different words on purpose (same intent, different vocabulary), and
sit among ~160 ordinary items so that a detector's precision means something.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from productops.portfolio.models import Dependency, PortfolioItem, StatusCategory
from productops.signals.ingest import UpsertResult, upsert

from . import world
from .world import END_DATE, SOURCE_KEY, TEAMS

# team -> [(initiative title, product, [(epic title, component), ...]), ...]
PLAN: dict[str, list[tuple[str, str, list[tuple[str, str]]]]] = {
    "payments": [
        (
            "Get paid faster",
            "ledger",
            [
                ("Automatic payment reminders", "reminders"),
                ("Card payments on invoices", "checkout"),
                ("Partial payments and instalments", "payments-core"),
            ],
        ),
        (
            "Finance-grade reporting",
            "ledger",
            [
                ("Revenue recognition report", "reports"),
                ("Multi-currency ledger", "payments-core"),
                ("Refund workflow for disputed charges", "refunds"),
            ],
        ),
    ],
    "growth": [
        (
            "Activation",
            "pulse",
            [
                ("Interactive onboarding checklist", "onboarding"),
                ("Trial expiry nudges", "lifecycle"),
                ("Referral programme with credits", "referrals"),
            ],
        ),
        (
            "Monetisation",
            "ledger",
            [
                ("Annual plan discount at checkout", "pricing"),
                ("Team plan seat upsell", "pricing"),
                ("Pricing page test harness", "experiments"),
            ],
        ),
    ],
    "mobile": [
        (
            "Offline-first mobile",
            "pulse",
            [
                ("Offline message queue", "mobile-sync"),
                ("Background refresh of boards", "mobile-sync"),
                ("Edit conflict resolution screen", "mobile-ui"),
            ],
        ),
        (
            "Mobile polish",
            "canvas",
            [
                ("Dark mode for iOS and Android", "mobile-ui"),
                ("Tablet layout for boards", "mobile-ui"),
                ("Crash-free sessions above 99.8%", "mobile-quality"),
            ],
        ),
    ],
    "platform": [
        (
            "Reliability",
            "pulse",
            [
                ("Multi-region failover for the API", "api-gateway"),
                ("Rate limiting per workspace", "api-gateway"),
                ("Database connection pooling upgrade", "database"),
            ],
        ),
        (
            "Developer platform",
            "canvas",
            [
                ("Public REST API v2", "public-api"),
                ("Webhooks with retries and signatures", "webhooks"),
                ("SAML single sign-on and SCIM provisioning", "auth"),
            ],
        ),
    ],
    "insights": [
        (
            "Self-serve analytics",
            "canvas",
            [
                ("Custom dashboard builder", "dashboards"),
                ("Cohort retention charts", "analytics"),
                ("Funnel analysis for workspace events", "analytics"),
            ],
        ),
        (
            "Data quality",
            "ledger",
            [
                ("Event schema registry", "tracking"),
                ("Warehouse sync to BigQuery and Snowflake", "data-export"),
                ("Alerts for broken tracking events", "alerts"),
            ],
        ),
    ],
    "collaboration": [
        (
            "Better reviews",
            "canvas",
            [
                ("Threaded comments on board objects", "comments"),
                ("Version history and restore", "versioning"),
                ("Design review approvals", "reviews"),
            ],
        ),
        (
            "Sharing",
            "canvas",
            [
                ("Guest access with expiring links", "sharing"),
                ("Role picker in the invite flow", "sharing"),
                ("Embeds in Notion and Confluence", "embeds"),
            ],
        ),
    ],
}

STORY_PATTERNS = [
    "Backend endpoints: {obj}",
    "Web UI for {obj}",
    "Mobile screens for {obj}",
    "Instrument analytics events ({obj})",
    "Write the rollout plan behind a flag for {obj}",
    "Load test {obj}",
    "Help centre article about {obj}",
    "Accessibility pass on {obj}",
    "Empty and error states of {obj}",
    "Data migration needed by {obj}",
    "Permissions model for {obj}",
    "QA checklist: {obj}",
]
WHY = [
    "Customers ask for this in support tickets every week.",
    "Sales lost two deals over this last quarter.",
    "It removes a manual step the success team does by hand.",
    "Competitors already offer it and reviews mention the gap.",
    "It is a prerequisite for the enterprise plan.",
    "It reduces on-call pages for the owning team.",
]
PEOPLE = [
    "Amara Okafor",
    "Ben Fischer",
    "Chloé Martin",
    "Diego Alvarez",
    "Elif Yilmaz",
    "Farah Haddad",
    "Gustav Lind",
    "Hana Sato",
    "Ivan Petrov",
    "Julia Nowak",
    "Kofi Mensah",
    "Lena Schmidt",
    "Mateo Rossi",
    "Nina Kowalczyk",
    "Omar Farouk",
    "Priya Raman",
]
LABELS = ["q3", "q4", "tech-debt", "customer-request", "security", "ux", "backend", "frontend", "okr"]
STATUS_NAMES = {
    "jira": {"todo": "To Do", "in_progress": "In Progress", "done": "Done"},
    "github": {"todo": "open", "in_progress": "open", "done": "closed"},
    "gitlab": {"todo": "opened", "in_progress": "opened", "done": "closed"},
    "linear": {"todo": "Backlog", "in_progress": "In Progress", "done": "Done"},
}

# Planted items: (external id, team, product, kind, title, description, component, start, target)
PLANTED: list[tuple[str, str, str, str, str, str, str, dt.date, dt.date]] = [
    (
        "PAY-140",
        "payments",
        "ledger",
        "epic",
        "Fix billing export failures for large accounts",
        "Billing export fails with a timeout for accounts with more than 5,000 invoices; the CSV is never "
        "generated and customers are filing tickets. Stream the export and retry failed chunks.",
        "billing-export",
        dt.date(2026, 10, 20),
        dt.date(2026, 12, 18),
    ),
    (
        "GRO-201",
        "growth",
        "pulse",
        "epic",
        "Reduce sign-up friction with social login",
        "Let new users create an account with their Google or Apple identity instead of filling in the long "
        "registration form. We expect fewer drop-offs on the sign-up page.",
        "signup",
        dt.date(2026, 9, 14),
        dt.date(2026, 12, 4),
    ),
    (
        "MOB-310",
        "mobile",
        "pulse",
        "epic",
        "One-tap account creation via Apple and Google on mobile",
        "Onboarding on iOS and Android should offer one-tap account creation using an existing Apple or "
        "Google account, so people don't abandon at the registration step.",
        "mobile-onboarding",
        dt.date(2026, 10, 1),
        dt.date(2027, 1, 15),
    ),
    (
        "COL-120",
        "collaboration",
        "canvas",
        "epic",
        "Live presence on boards",
        "Show the avatars and cursors of teammates who are looking at the same board right now, so people "
        "know who else is editing before they move things around.",
        "presence",
        dt.date(2026, 8, 3),
        dt.date(2026, 11, 27),
    ),
    (
        "PLT-250",
        "platform",
        "canvas",
        "epic",
        "Realtime 'who is viewing' indicator for shared canvases",
        "Broadcast viewer sessions over websockets and render the list of people currently viewing a canvas, "
        "including their pointer positions.",
        "realtime",
        dt.date(2026, 9, 1),
        dt.date(2026, 12, 20),
    ),
    (
        "INS-130",
        "insights",
        "canvas",
        "epic",
        "Weekly usage digest e-mail for workspace admins",
        "Send admins a weekly summary of how their workspace used the product: active members, boards "
        "created, most viewed boards.",
        "digest-email",
        dt.date(2026, 7, 6),
        dt.date(2026, 10, 30),
    ),
    (
        "GRO-215",
        "growth",
        "canvas",
        "epic",
        "Win-back e-mails for dormant workspaces",
        "When a workspace has had no activity for 21 days, send a sequence of e-mails that remind the owner "
        "what their team built and invite them back.",
        "lifecycle-email",
        dt.date(2026, 8, 10),
        dt.date(2026, 11, 13),
    ),
    (
        "PAY-150",
        "payments",
        "ledger",
        "epic",
        "Support EU VAT rate changes on invoices",
        "Several EU countries change VAT rates in January. Invoices must pick the rate valid on the invoice "
        "date and show it per line.",
        "tax",
        dt.date(2026, 10, 5),
        dt.date(2026, 12, 31),
    ),
    (
        "PLT-260",
        "platform",
        "ledger",
        "epic",
        "Locale-aware currency and tax formatting service",
        "A shared service that formats amounts, currencies and tax rates per locale, used by invoices, "
        "receipts and the pricing page.",
        "i18n",
        dt.date(2026, 10, 12),
        dt.date(2027, 2, 5),
    ),
    (
        "MOB-320",
        "mobile",
        "pulse",
        "epic",
        "Rebuild push notification delivery",
        "Rewrite how the notifications-service fans out push messages to APNs and FCM; batch by device and "
        "drop the legacy worker.",
        "notifications-service",
        dt.date(2026, 9, 1),
        dt.date(2026, 12, 15),
    ),
    (
        "PLT-270",
        "platform",
        "pulse",
        "epic",
        "Move the notifications service onto the new event bus",
        "Migrate notifications-service consumers from the old queue to the event bus and change its storage "
        "schema.",
        "notifications-service",
        dt.date(2026, 10, 1),
        dt.date(2027, 1, 31),
    ),
    (
        "GRO-220",
        "growth",
        "ledger",
        "epic",
        "Usage-based pricing page",
        "Show each workspace its live usage next to the plans on the pricing page. Needs the usage metering "
        "endpoint the Platform team is building (PLT-280, metering-api); we cannot ship before it exists.",
        "pricing",
        dt.date(2026, 11, 2),
        dt.date(2027, 2, 26),
    ),
    (
        "PLT-280",
        "platform",
        "ledger",
        "epic",
        "Usage metering API",
        "Count billable events per workspace and expose them through an internal endpoint with hourly "
        "granularity.",
        "metering-api",
        dt.date(2026, 10, 19),
        dt.date(2027, 1, 22),
    ),
]
OVERLAPS = [
    ("GRO-201", "MOB-310", "duplicate"),
    ("COL-120", "PLT-250", "duplicate"),
    ("INS-130", "GRO-215", "related"),
    ("PAY-150", "PLT-260", "related"),
    ("MOB-320", "PLT-270", "conflict"),
    ("GRO-220", "PLT-280", "hidden_dependency"),
]
BILLING_EXPORT_ITEM = "PAY-140"


def _url(team: str, external_id: str) -> str:
    _name, _products, tracker, _prefix, base = TEAMS[team]
    number = external_id.split("-")[1]
    return f"{base}{number}" if tracker in {"github", "gitlab"} else f"{base}{external_id}"


def _status(team: str, start: dt.date, target: dt.date) -> tuple[str, str]:
    tracker = TEAMS[team][2]
    if target < END_DATE:
        category = StatusCategory.DONE
    elif start > END_DATE:
        category = StatusCategory.TODO
    else:
        category = StatusCategory.IN_PROGRESS
    return STATUS_NAMES[tracker][category.value], category.value


def _item(
    external_id: str,
    team: str,
    product: str,
    kind: str,
    title: str,
    description: str,
    components: list[str],
    labels: list[str],
    start: dt.date,
    target: dt.date,
    assignee: str,
    ids: dict[str, dict[str, int]],
) -> dict[str, Any]:
    status, category = _status(team, start, target)
    done_at = dt.datetime.combine(target, dt.time(16), tzinfo=dt.UTC) if category == "done" else None
    updated = min(
        done_at or dt.datetime.combine(END_DATE, dt.time(9), tzinfo=dt.UTC), world.at(world.N_DAYS - 1)
    )
    return {
        "source_key": SOURCE_KEY,
        "external_id": external_id,
        "kind": kind,
        "title": title,
        "description": description,
        "team_id": ids["teams"][team],
        "product_id": ids["products"][product],
        "status": status,
        "status_category": category,
        "labels": labels,
        "components": components,
        "start_date": start,
        "target_date": target,
        "url": _url(team, external_id),
        "assignee": assignee,
        "tracker": TEAMS[team][2],
        "updated_at_source": updated,
        "done_at": done_at,
    }


def seed_portfolio(
    products: dict[str, int], teams: dict[str, int], seed: int, truth: dict[str, Any]
) -> dict[str, UpsertResult]:
    rng = world.rng(seed, "portfolio")
    ids = {"products": products, "teams": teams}
    rows: list[dict[str, Any]] = []
    parents: dict[str, str] = {}
    for team, initiatives in PLAN.items():
        prefix = TEAMS[team][3]
        number = 10
        for init_title, product, epics in initiatives:
            number += 1
            init_id = f"{prefix}-{number}"
            init_start = world.day(int(rng.integers(200, 520)))
            init_target = init_start + dt.timedelta(days=int(rng.integers(150, 300)))
            rows.append(
                _item(
                    init_id,
                    team,
                    product,
                    "initiative",
                    init_title,
                    f"{init_title}: {WHY[int(rng.integers(len(WHY)))]}",
                    sorted({c for _, c in epics}),
                    ["okr"],
                    init_start,
                    init_target,
                    PEOPLE[int(rng.integers(len(PEOPLE)))],
                    ids,
                )
            )
            for epic_title, component in epics:
                number += 1
                epic_id = f"{prefix}-{number}"
                parents[epic_id] = init_id
                e_start = init_start + dt.timedelta(days=int(rng.integers(0, 90)))
                e_target = e_start + dt.timedelta(days=int(rng.integers(40, 120)))
                labels = sorted(set(rng.choice(LABELS, size=2, replace=False).tolist()))
                owner = PEOPLE[int(rng.integers(len(PEOPLE)))]
                rows.append(
                    _item(
                        epic_id,
                        team,
                        product,
                        "epic",
                        epic_title,
                        f"{epic_title}. {WHY[int(rng.integers(len(WHY)))]} Component: {component}.",
                        [component],
                        labels,
                        e_start,
                        e_target,
                        owner,
                        ids,
                    )
                )
                obj = epic_title[0].lower() + epic_title[1:]
                for pattern in rng.choice(STORY_PATTERNS, size=3, replace=False).tolist():
                    number += 1
                    story_id = f"{prefix}-{number}"
                    parents[story_id] = epic_id
                    s_start = e_start + dt.timedelta(days=int(rng.integers(0, 30)))
                    s_target = s_start + dt.timedelta(days=int(rng.integers(7, 30)))
                    rows.append(
                        _item(
                            story_id,
                            team,
                            product,
                            "story",
                            pattern.format(obj=obj),
                            f"Part of {epic_id}. Acceptance: works for every plan, covered by tests.",
                            [component],
                            labels[:1],
                            s_start,
                            s_target,
                            PEOPLE[int(rng.integers(len(PEOPLE)))],
                            ids,
                        )
                    )
    for ext, team, product, kind, title, description, component, start, target in PLANTED:
        rows.append(
            _item(
                ext,
                team,
                product,
                kind,
                title,
                description,
                [component],
                ["customer-request"] if ext == BILLING_EXPORT_ITEM else [],
                start,
                target,
                PEOPLE[int(rng.integers(len(PEOPLE)))],
                ids,
            )
        )
    # Planted epics hang under their team's first initiative.
    for ext, team, *_ in PLANTED:
        parents[ext] = f"{TEAMS[team][3]}-11"

    result = upsert(PortfolioItem, rows)
    pk = dict(PortfolioItem.objects.filter(source_key=SOURCE_KEY).values_list("external_id", "id"))
    # Parents are foreign keys, so they go in a second pass once every item has a primary key.
    result_parents = upsert(
        PortfolioItem,
        [
            {"source_key": SOURCE_KEY, "external_id": c, "parent_id": pk[p]}
            for c, p in sorted(parents.items())
        ],
    )

    # Explicit dependencies between ordinary epics (some across teams), none between planted pairs.
    planted = {p[0] for p in PLANTED}
    epics = sorted(r["external_id"] for r in rows if r["kind"] == "epic" and r["external_id"] not in planted)
    warehouse = next(r["external_id"] for r in rows if r["title"].startswith("Warehouse sync"))
    deps = []
    for _ in range(14):
        a, b = rng.choice(epics, size=2, replace=False).tolist()
        kind = "blocks" if rng.random() < 0.6 else "relates"
        deps.append((a, b, kind))
    deps.append((BILLING_EXPORT_ITEM, warehouse, "relates"))  # export fix relates to the warehouse sync epic
    dep_rows = [
        {"from_item_id": pk[a], "to_item_id": pk[b], "kind": kind, "source_key": SOURCE_KEY}
        for a, b, kind in deps
    ]
    dep_result = upsert(Dependency, dep_rows)
    truth["overlaps"] = [{"a": a, "b": b, "kind": kind} for a, b, kind in OVERLAPS]
    truth["dependencies"] = [{"from": a, "to": b, "kind": kind} for a, b, kind in sorted(set(deps))]
    return {"portfolio_items": result, "portfolio_parents": result_parents, "dependencies": dep_result}
