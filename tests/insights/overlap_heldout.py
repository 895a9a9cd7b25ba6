"""Held-out overlap fixture: cross-team pairs written fresh, after concepts.py was fixed.

Written without looking at the thesaurus' word lists and not followed by any change to them, so the
precision and recall measured on it say how the general method (word and character n-grams over title and
description, labels, components) does on wording it was not tuned to. Each planted pair is two teams
describing the same work (duplicate) or closely connected work (related) in their own words; the
distractors are ordinary items of the same teams. Nothing here is shared with the demo dataset.
"""

from __future__ import annotations

from datetime import date
from typing import Any

# (key, team, title, description, components, labels)
ITEMS: list[tuple[str, str, str, str, list[str], list[str]]] = [
    # --- planted pairs ---
    (
        "BIL-11",
        "billing",
        "Let customers download their receipts as PDF",
        "Customers keep asking support for a printable copy of each payment. Generate a PDF receipt per "
        "charge and link it from the billing history.",
        ["billing-ui"],
        ["customer-request"],
    ),
    (
        "SUP-31",
        "support",
        "PDF receipts available from the billing page",
        "Agents spend hours every week emailing receipts by hand. Customers should be able to fetch a PDF "
        "of any past payment themselves.",
        ["help-centre"],
        ["customer-request"],
    ),
    (
        "PLA-21",
        "platform",
        "Audit trail for admin actions",
        "Record who changed settings, roles or billing details, with a timestamp and the old and new "
        "values, searchable by workspace owners.",
        ["audit"],
        ["security"],
    ),
    (
        "TRU-41",
        "trust",
        "Record every administrator change in an activity log",
        "Enterprise buyers ask for a log of configuration changes made by administrators for their "
        "compliance reviews.",
        ["compliance"],
        ["security", "enterprise"],
    ),
    (
        "MOB-51",
        "mobile",
        "Biometric unlock with Face ID and fingerprint",
        "Let people open the app with Face ID or a fingerprint instead of typing the password each time.",
        ["mobile-auth"],
        [],
    ),
    (
        "TRU-42",
        "trust",
        "Allow Face ID or fingerprint login on phones",
        "Biometric authentication on iOS and Android as an alternative to passwords, with a fallback PIN.",
        ["identity"],
        ["security"],
    ),
    (
        "DAT-61",
        "data",
        "Nightly export of events to the customer's S3 bucket",
        "Enterprise customers want raw event data in their own Amazon S3 bucket every night, partitioned "
        "by day, so their analysts can query it.",
        ["warehouse"],
        ["enterprise"],
    ),
    (
        "PLA-22",
        "platform",
        "Scheduled data exports to Amazon S3",
        "A scheduler that writes workspace data to a customer-owned S3 bucket on a daily schedule, with "
        "credentials stored per workspace.",
        ["jobs"],
        ["enterprise"],
    ),
    (
        "DES-71",
        "design",
        "Keyboard shortcuts cheat sheet",
        "A panel listing every keyboard shortcut, opened with the question mark key, so power users can "
        "learn them.",
        ["design-system"],
        ["ux"],
    ),
    (
        "WEB-81",
        "web",
        "Show available hotkeys in a shortcuts overlay",
        "Pressing ? opens an overlay with all keyboard shortcuts grouped by page.",
        ["web-app"],
        ["ux"],
    ),
    (
        "PLA-23",
        "platform",
        "Retry failed webhook deliveries with backoff",
        "When a subscriber endpoint returns an error or times out, retry the delivery with exponential "
        "backoff for up to 24 hours.",
        ["webhooks"],
        [],
    ),
    (
        "INT-91",
        "integrations",
        "Automatic redelivery of webhooks after errors",
        "Partners lose events when their server is down. Webhook deliveries that fail should be sent again "
        "automatically, with a delivery log.",
        ["partner-api"],
        [],
    ),
    (
        "DAT-62",
        "data",
        "Cohort retention chart in the reports area",
        "Show what share of each signup week's cohort is still active after 1, 4 and 12 weeks.",
        ["reports"],
        [],
    ),
    (
        "GRW-101",
        "growth",
        "Weekly retention cohorts report for activation",
        "Growth needs to see retention by weekly cohort to judge the activation experiments.",
        ["growth-analytics"],
        [],
    ),
    (
        "BIL-12",
        "billing",
        "Annual billing option with discount",
        "Offer a yearly plan paid up front at two months free, next to the monthly plans.",
        ["plans"],
        [],
    ),
    (
        "GRW-102",
        "growth",
        "Offer yearly plans at a reduced price",
        "Test an annual plan with a discount on the upgrade screen to lift paid conversion.",
        ["upgrade-flow"],
        [],
    ),
    (
        "TRU-43",
        "trust",
        "Session timeout after inactivity for enterprise workspaces",
        "Enterprise admins want sessions to expire after a configurable idle period.",
        ["identity"],
        ["enterprise"],
    ),
    (
        "PLA-24",
        "platform",
        "Automatically log out idle users on enterprise plans",
        "Sign users out after a period without activity; the timeout is set per enterprise workspace.",
        ["sessions"],
        ["enterprise"],
    ),
    (
        "INT-92",
        "integrations",
        "Two-way sync with Google Calendar",
        "Due dates of tasks appear in Google Calendar and moving the event moves the due date.",
        ["calendar"],
        [],
    ),
    (
        "MOB-52",
        "mobile",
        "Show Google Calendar events in the mobile agenda",
        "The agenda screen on the phone lists the user's Google Calendar events next to their tasks.",
        ["mobile-agenda"],
        [],
    ),
    (
        "PLA-25",
        "platform",
        "Upgrade Postgres to version 16",
        "Move the primary database cluster to PostgreSQL 16 before version 12 goes out of support.",
        ["database"],
        ["tech-debt"],
    ),
    (
        "DAT-63",
        "data",
        "Migrate the analytics database to PostgreSQL 16",
        "The analytics replica still runs Postgres 12; upgrade it to 16 together with its extensions.",
        ["warehouse"],
        ["tech-debt"],
    ),
    (
        "SUP-32",
        "support",
        "In-app help widget with chat",
        "A help button in the corner of every page that searches help articles and opens a chat with an agent.",
        ["help-centre"],
        [],
    ),
    (
        "GRW-103",
        "growth",
        "Chat bubble inside the product for trial users",
        "Trial users can ask questions through a chat bubble in the app; answers come from the support team.",
        ["trial"],
        [],
    ),
    (
        "MOB-53",
        "mobile",
        "Per-channel push notification preferences",
        "Users choose which kinds of push notifications they get: mentions, assignments, reminders.",
        ["mobile-settings"],
        [],
    ),
    (
        "GRW-104",
        "growth",
        "Let users mute specific notification types",
        "People turn off all notifications because they cannot silence only the noisy kinds; add a "
        "setting per notification type.",
        ["lifecycle"],
        [],
    ),
    # --- distractors: ordinary work of the same teams ---
    (
        "BIL-13",
        "billing",
        "Dunning emails for failed card payments",
        "Remind customers three times before a subscription is paused.",
        ["dunning"],
        [],
    ),
    (
        "BIL-14",
        "billing",
        "Proration when changing plans mid-cycle",
        "Charge or credit the difference when a workspace changes plan.",
        ["plans"],
        [],
    ),
    (
        "SUP-33",
        "support",
        "Macros for common ticket replies",
        "Saved answers agents insert with one click.",
        ["desk"],
        [],
    ),
    (
        "SUP-34",
        "support",
        "SLA timers on urgent tickets",
        "Show how long until the first-response target.",
        ["desk"],
        [],
    ),
    (
        "PLA-26",
        "platform",
        "Rotate TLS certificates automatically",
        "Renew and deploy certificates before they expire.",
        ["infra"],
        ["security"],
    ),
    (
        "PLA-27",
        "platform",
        "Kubernetes node autoscaling",
        "Scale worker nodes with queue depth.",
        ["infra"],
        [],
    ),
    (
        "MOB-54",
        "mobile",
        "Refresh App Store screenshots",
        "New screenshots for the store listing.",
        ["release"],
        [],
    ),
    (
        "MOB-55",
        "mobile",
        "Reduce app bundle size",
        "Strip unused fonts and images from the build.",
        ["release"],
        [],
    ),
    (
        "GRW-105",
        "growth",
        "Landing page for the agency partner programme",
        "Explain partner tiers and collect applications.",
        ["marketing-site"],
        [],
    ),
    (
        "GRW-106",
        "growth",
        "Exit survey on cancellation",
        "Ask why before a subscription is cancelled.",
        ["lifecycle"],
        [],
    ),
    (
        "DAT-64",
        "data",
        "Retention policy for raw events",
        "Delete raw events older than 400 days.",
        ["warehouse"],
        ["compliance"],
    ),
    (
        "DAT-65",
        "data",
        "dbt models for revenue metrics",
        "MRR, churn and expansion tables.",
        ["warehouse"],
        [],
    ),
    (
        "DES-72",
        "design",
        "New icon set",
        "Replace the mixed icon styles with one outline set.",
        ["design-system"],
        [],
    ),
    (
        "DES-73",
        "design",
        "Typography scale update",
        "Fewer font sizes, better line heights.",
        ["design-system"],
        [],
    ),
    (
        "WEB-82",
        "web",
        "Drag-and-drop file attachments",
        "Drop files anywhere on a task to attach them.",
        ["web-app"],
        [],
    ),
    (
        "WEB-83",
        "web",
        "Breadcrumb navigation on settings pages",
        "Show where you are in nested settings.",
        ["web-app"],
        ["ux"],
    ),
    (
        "TRU-44",
        "trust",
        "SOC 2 evidence collection",
        "Gather screenshots and exports for the auditor.",
        ["compliance"],
        [],
    ),
    (
        "TRU-45",
        "trust",
        "Penetration test follow-ups",
        "Fix the medium findings from the spring pen test.",
        ["appsec"],
        ["security"],
    ),
    (
        "INT-93",
        "integrations",
        "Zapier triggers for new records",
        "Fire a Zapier trigger whenever a record is created.",
        ["partner-api"],
        [],
    ),
    (
        "INT-94",
        "integrations",
        "Salesforce contact import",
        "Pull contacts from Salesforce into the CRM view.",
        ["crm"],
        [],
    ),
]

# Planted pairs: (a, b) -> kind. Any reported pair not listed here counts as a false positive.
EXPECTED: dict[tuple[str, str], str] = {
    ("BIL-11", "SUP-31"): "duplicate",
    ("PLA-21", "TRU-41"): "duplicate",
    ("MOB-51", "TRU-42"): "duplicate",
    ("DAT-61", "PLA-22"): "duplicate",
    ("DES-71", "WEB-81"): "duplicate",
    ("PLA-23", "INT-91"): "duplicate",
    ("DAT-62", "GRW-101"): "duplicate",
    ("BIL-12", "GRW-102"): "duplicate",
    ("TRU-43", "PLA-24"): "duplicate",
    ("INT-92", "MOB-52"): "related",
    ("PLA-25", "DAT-63"): "duplicate",
    ("SUP-32", "GRW-103"): "related",
    ("MOB-53", "GRW-104"): "related",
}


def items() -> list[dict[str, Any]]:
    """The fixture as find_overlaps input: one product, every item open and active in the same quarter."""
    return [
        {
            "ref": key,
            "key": key,
            "team": team,
            "title": title,
            "description": description,
            "components": components,
            "labels": labels,
            "product": "app",
            "level": "epic",
            "status": "todo",
            "start": date(2026, 4, 1),
            "end": date(2026, 6, 30),
        }
        for key, team, title, description, components, labels in ITEMS
    ]
