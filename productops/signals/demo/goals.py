"""Objectives and key results for the demo products (Q4 2026), with planted outcomes.

- Canvas "Average session length" is bound to `session_length` (mean over the quarter), whose planted
  drift (-30% from 2026-09-21) makes its +5% target unreachable: **at risk**.
- Pulse "Daily active users" is bound to `daily_active_users` (last value), with a target its trend
  clears comfortably: **on track**. Ledger's Q4 revenue (sum) is on track too.
- The rest are updated by hand, with check-ins; a few initiatives and epics are linked (confirmed),
  and the matcher suggests more when the recompute runs.

Written with get_or_create on (source_key "demo", external_id), so a re-run changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from .world import SOURCE_KEY

Q4_START, Q4_END = dt.date(2026, 10, 1), dt.date(2026, 12, 31)

# external id -> (title, description, level, product, team, parent)
OBJECTIVES: list[tuple[str, str, str, str, str | None, str | None, str | None]] = [
    (
        "obj-company-q4",
        "Grow revenue and engagement across every product",
        "The company's Q4 focus: customers get paid faster, collaborate longer and come back daily.",
        "company",
        None,
        None,
        None,
    ),
    (
        "obj-ledger-q4",
        "Get small businesses paid faster",
        "Invoices that are paid on time: reminders, card payments and a billing export that works.",
        "product",
        "ledger",
        None,
        "obj-company-q4",
    ),
    (
        "obj-payments-q4",
        "Reliable invoicing and payments",
        "Fewer failed payments and billing exports for Ledger customers.",
        "team",
        "ledger",
        "payments",
        "obj-ledger-q4",
    ),
    (
        "obj-canvas-q4",
        "Keep Canvas boards engaging",
        "Boards load fast and people stay in their design reviews and board sessions.",
        "product",
        "canvas",
        None,
        "obj-company-q4",
    ),
    (
        "obj-pulse-q4",
        "Grow Pulse's daily active users",
        "Activation and onboarding that turn trials into daily users of chat and calls.",
        "product",
        "pulse",
        None,
        "obj-company-q4",
    ),
]

# external id -> (objective, title, start, target, unit, metric key or None, aggregation)
KEY_RESULTS: list[tuple[str, str, str, float, float, str, str | None, str]] = [
    (
        "kr-company-roadmaps",
        "obj-company-q4",
        "Every product publishes its Q4 roadmap",
        0,
        3,
        "products",
        None,
        "last",
    ),
    ("kr-ledger-revenue", "obj-ledger-q4", "Ledger revenue in Q4", 0, 4_200_000, "EUR", "revenue", "sum"),
    (
        "kr-ledger-export",
        "obj-payments-q4",
        "Billing export failures down to zero",
        40,
        0,
        "failures/week",
        None,
        "last",
    ),
    (
        "kr-payments-reminders",
        "obj-payments-q4",
        "Invoices with automatic payment reminders",
        0,
        60,
        "%",
        None,
        "last",
    ),
    (
        "kr-canvas-session",
        "obj-canvas-q4",
        "Average board session length up 5%",
        1330,
        1400,
        "seconds",
        "session_length",
        "mean",
    ),
    (
        "kr-pulse-dau",
        "obj-pulse-q4",
        "Pulse daily active users",
        105_000,
        112_000,
        "users",
        "daily_active_users",
        "last",
    ),
]

# (key result, value, comment, days after the quarter's start)
CHECK_INS = [
    ("kr-company-roadmaps", 2, "Ledger and Pulse published; Canvas's is in review.", 30),
    ("kr-ledger-export", 22, "The retry for large exports shipped (PAY-140); failures halved.", 20),
    ("kr-ledger-export", 9, "Timeouts on the warehouse side remain.", 45),
    ("kr-payments-reminders", 35, "Reminders on for every new account.", 40),
]

# (portfolio item external id or title, key result): links a PM confirmed
LINKS = [
    ("PAY-140", "kr-ledger-export"),
    ("Get paid faster", "kr-ledger-revenue"),
    ("Automatic payment reminders", "kr-payments-reminders"),
    ("Activation", "kr-pulse-dau"),
]

AT_RISK = "kr-canvas-session"
ON_TRACK = "kr-pulse-dau"


def seed_goals(products: dict[str, int], teams: dict[str, int], truth: dict[str, Any]) -> dict[str, int]:
    """Create the demo goals; evaluate the bound key results and refresh the matcher's suggestions
    (as a hand edit on the Goals page does). Returns how many objectives, key results, check-ins and
    links were created."""
    from productops.goals import services
    from productops.goals.models import (
        Alignment,
        AlignmentStatus,
        KeyResult,
        KeyResultCheckIn,
        Objective,
    )
    from productops.portfolio.models import PortfolioItem
    from productops.signals.models import Metric

    created = {"objectives": 0, "key_results": 0, "check_ins": 0, "links": 0}
    with transaction.atomic():
        objectives: dict[str, Objective] = {}
        for ext, title, description, level, product, team, parent in OBJECTIVES:
            obj, new = Objective.objects.get_or_create(
                source_key=SOURCE_KEY,
                external_id=ext,
                defaults={
                    "title": title,
                    "description": description,
                    "level": level,
                    "product_id": products.get(product) if product else None,
                    "team_id": teams.get(team) if team else None,
                    "parent": objectives.get(parent) if parent else None,
                    "period_start": Q4_START,
                    "period_end": Q4_END,
                },
            )
            objectives[ext] = obj
            created["objectives"] += new
        krs: dict[str, KeyResult] = {}
        for ext, objective, title, start, target, unit, metric_key, aggregation in KEY_RESULTS:
            obj = objectives[objective]
            metric = (
                Metric.objects.filter(
                    product_id=obj.product_id, key=metric_key, source_key=SOURCE_KEY
                ).first()
                if metric_key and obj.product_id is not None
                else None
            )
            kr, new = KeyResult.objects.get_or_create(
                source_key=SOURCE_KEY,
                external_id=ext,
                defaults={
                    "objective": obj,
                    "title": title,
                    "start_value": start,
                    "target_value": target,
                    "unit": unit,
                    "metric": metric,
                    "aggregation": aggregation,
                },
            )
            if kr.metric_id is None and metric is not None:  # the metrics were seeded after the goals
                kr.metric = metric
                kr.save(update_fields=["metric"])
            krs[ext] = kr
            created["key_results"] += new
        for kr_ext, value, comment, offset in CHECK_INS:
            _, new = KeyResultCheckIn.objects.get_or_create(
                key_result=krs[kr_ext],
                comment=comment,
                defaults={
                    "value": value,
                    "created_at": dt.datetime.combine(
                        Q4_START + dt.timedelta(days=offset), dt.time(10), tzinfo=dt.UTC
                    ),
                },
            )
            created["check_ins"] += new
        for ref, kr_ext in LINKS:
            item = (
                PortfolioItem.objects.filter(source_key=SOURCE_KEY, external_id=ref).first()
                or PortfolioItem.objects.filter(source_key=SOURCE_KEY, title=ref).order_by("pk").first()
            )
            if item is None:  # the portfolio section was not seeded
                continue
            _, new = Alignment.objects.get_or_create(
                item=item, key_result=krs[kr_ext], defaults={"status": AlignmentStatus.CONFIRMED}
            )
            created["links"] += new
    for kr in krs.values():
        services.refresh(kr)
    services.suggest_alignments()
    truth["goals"] = {
        "at_risk": {"key_result": AT_RISK, "product": "canvas", "metric": "session_length"},
        "on_track": {"key_result": ON_TRACK, "product": "pulse", "metric": "daily_active_users"},
        "period": [Q4_START.isoformat(), Q4_END.isoformat()],
        "links": [{"item": ref, "key_result": kr} for ref, kr in LINKS],
    }
    return created
