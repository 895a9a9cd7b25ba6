"""A small thesaurus of product and engineering vocabulary, so that different words for one thing match.

Teams describe the same work in their own words ("sign-up" / "registration" / "account creation",
"board" / "canvas"). TF-IDF only sees shared words, so each group below adds one concept token to any
text that uses one of its phrases; two texts using different members then share that token. Keep groups
tight: a group that mixes related-but-different things ("invoice" and "payment") creates false overlaps.
Extend with OVERLAPS_EXTRA_CONCEPTS? Not yet: edit this list (and the tests) for now.
"""

from __future__ import annotations

import re

CONCEPT_PREFIX = "concept"

GROUPS: dict[str, list[str]] = {
    "signup": [
        "sign-up",
        "sign up",
        "signup",
        "registration",
        "register",
        "account creation",
        "create an account",
        "new account",
    ],
    "login": ["login", "log in", "log-in", "sign-in", "sign in", "signin", "authentication"],
    "social_login": [
        "social login",
        "google account",
        "apple account",
        "google or apple",
        "apple or google",
        "sign in with google",
        "sign in with apple",
        "google identity",
        "apple identity",
        "oauth",
    ],
    "sso": ["sso", "single sign-on", "single sign on", "saml"],
    "mfa": ["2fa", "two-factor", "two factor", "mfa", "multi-factor", "one-time code"],
    "board": ["board", "boards", "canvas", "canvases", "whiteboard"],
    "presence": [
        "presence",
        "who is viewing",
        "who is looking",
        "who else is",
        "viewers",
        "viewer sessions",
        "currently viewing",
        "looking at the same",
        "avatars",
    ],
    "cursor": ["cursor", "cursors", "pointer", "pointers", "pointer positions"],
    "realtime": ["real-time", "realtime", "real time", "live", "websocket", "websockets"],
    "teammates": ["teammates", "collaborators", "colleagues", "co-workers"],
    "email": ["email", "e-mail", "emails", "e-mails", "mail"],
    "digest": ["digest", "summary email", "weekly summary", "newsletter", "recap"],
    "reengage": [
        "win-back",
        "win back",
        "winback",
        "re-engage",
        "re-engagement",
        "dormant",
        "inactive",
        "churned",
        "invite them back",
        "no activity",
    ],
    "notification": ["notification", "notifications", "push", "push message", "push messages", "apns", "fcm"],
    "tax": ["tax", "taxes", "vat", "gst", "sales tax"],
    "currency": ["currency", "currencies", "multi-currency", "exchange rate", "fx"],
    "invoice": ["invoice", "invoices", "invoicing", "bill", "bills"],
    "refund": ["refund", "refunds", "chargeback", "chargebacks", "disputed charge", "dispute"],
    "pricing": ["pricing", "price", "prices", "plans page", "pricing page"],
    "usage_billing": ["usage-based", "usage based", "metered", "metering", "pay as you go", "consumption"],
    "export": ["export", "exports", "download", "csv", "extract"],
    "import": ["import", "imports", "upload", "bulk upload"],
    "search": ["search", "lookup", "look up"],
    "permissions": ["permissions", "roles", "access control", "rbac", "acl"],
    "sharing": ["share", "sharing", "guest access", "public link", "invite link"],
    "onboarding": ["onboarding", "first-run", "first run", "getting started", "setup wizard", "checklist"],
    "offline": ["offline", "no connection", "without network", "airplane mode"],
    "sync": ["sync", "synchronise", "synchronize", "synchronisation", "synchronization", "replication"],
    "mobile": ["mobile", "ios", "android", "phone", "tablet"],
    "dark_mode": ["dark mode", "dark theme", "night mode"],
    "analytics": ["analytics", "metrics", "insights", "reporting", "dashboards", "charts"],
    "performance": ["performance", "latency", "slow", "speed up", "faster", "load time"],
    "reliability": ["outage", "downtime", "failover", "uptime", "availability", "incident"],
    "rate_limit": ["rate limit", "rate limiting", "rate limiter", "throttling", "quota", "quotas"],
    "api": ["api", "endpoint", "endpoints", "graphql"],
    "webhook": ["webhook", "webhooks", "callback url"],
    "comments": ["comment", "comments", "threads", "threaded", "replies", "mentions"],
    "history": ["version history", "revision history", "undo history", "restore", "snapshots"],
    "localisation": [
        "localisation",
        "localization",
        "locale",
        "locale-aware",
        "i18n",
        "l10n",
        "translation",
        "translations",
    ],
    "friction": ["friction", "drop-off", "drop-offs", "abandon", "abandonment", "churn at", "funnel leak"],
    "admin": ["admin", "admins", "administrator", "owner", "owners", "workspace owner"],
    "experiment": ["a/b test", "ab test", "experiment", "split test", "test harness"],
}


def _compile() -> tuple[re.Pattern[str], dict[str, str]]:
    concept_of = {p: f"{CONCEPT_PREFIX}{name.replace('_', '')}" for name, phrases in GROUPS.items() for p in phrases}
    alternatives = "|".join(re.escape(p) for p in sorted(concept_of, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])"), concept_of


_PATTERN, _CONCEPT_OF = _compile()


def expand(text: str) -> str:
    """The text followed by one concept token per phrase group it mentions (one regex pass)."""
    tokens = {_CONCEPT_OF[m.group(0)] for m in _PATTERN.finditer(text.lower())}
    return f"{text} {' '.join(sorted(tokens))}" if tokens else text


def concepts(text: str) -> list[str]:
    """The concept tokens a text mentions, e.g. ["conceptsignup", "conceptmobile"]."""
    return sorted({_CONCEPT_OF[m.group(0)] for m in _PATTERN.finditer(text.lower())})
