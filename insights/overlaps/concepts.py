"""A small thesaurus of product and engineering vocabulary, so that different words for one thing match.

Teams describe the same work in their own words ("sign-up" / "registration", "SSO" / "SAML", "VAT" /
"tax"). TF-IDF only sees shared words, so each group below adds one concept token to any text that uses
one of its terms; two texts using different members then share that token.

Rules for this list: only general product and engineering terms that a team anywhere would use (single
words, spelling variants, abbreviations and standard names of features), never phrases lifted from one
dataset's descriptions. Everything else comes from the general method: word and character n-grams over
title and description, labels and components. tests/insights/test_overlap_heldout.py checks that on
pairs written without looking at this list. Keep groups tight: a group that mixes related-but-different
things ("invoice" and "payment") creates false overlaps.
"""

from __future__ import annotations

import re
from functools import lru_cache

CONCEPT_PREFIX = "concept"

GROUPS: dict[str, list[str]] = {
    "signup": ["sign-up", "sign up", "signup", "registration", "register", "account creation"],
    "login": ["login", "log in", "log-in", "sign-in", "sign in", "signin"],
    "social_login": ["social login", "social sign-in", "sign in with google", "sign in with apple", "oauth"],
    "sso": ["sso", "single sign-on", "single sign on", "saml"],
    "mfa": ["2fa", "two-factor", "two factor", "mfa", "multi-factor", "otp", "totp", "one-time code"],
    "password_reset": ["password reset", "reset password", "forgot password", "forgotten password"],
    "cursor": ["cursor", "cursors", "pointer", "pointers"],
    "realtime": ["real-time", "realtime", "real time", "live", "websocket", "websockets"],
    "teammates": ["teammates", "collaborators", "colleagues", "co-workers", "coworkers"],
    "email": ["email", "e-mail", "emails", "e-mails"],
    "digest": ["digest", "newsletter", "recap", "summary email"],
    "reengage": [
        "win-back",
        "win back",
        "winback",
        "re-engage",
        "re-engagement",
        "reactivation",
        "dormant",
        "inactive",
        "lapsed",
        "churned",
    ],
    "notification": [
        "notification",
        "notifications",
        "push notification",
        "push notifications",
        "apns",
        "fcm",
    ],
    "tax": ["tax", "taxes", "vat", "gst", "sales tax"],
    "currency": ["currency", "currencies", "multi-currency", "exchange rate", "exchange rates", "fx"],
    "invoice": ["invoice", "invoices", "invoicing"],
    "refund": ["refund", "refunds", "chargeback", "chargebacks", "dispute", "disputes"],
    "pricing": ["pricing", "price", "prices", "pricing page", "plans page"],
    "usage_billing": ["usage-based", "usage based", "metered", "metering", "pay as you go", "pay-as-you-go"],
    "import": ["import", "imports", "bulk upload"],
    "search": ["search", "lookup"],
    "permissions": ["permissions", "roles", "access control", "rbac", "acl"],
    "sharing": ["sharing", "guest access", "public link", "share link", "invite link"],
    "onboarding": ["onboarding", "first-run", "first run", "getting started", "setup wizard", "product tour"],
    "offline": ["offline", "offline mode", "airplane mode"],
    "sync": ["sync", "synchronise", "synchronize", "synchronisation", "synchronization"],
    "mobile": ["mobile", "ios", "android", "iphone", "ipad"],
    "dark_mode": ["dark mode", "dark theme", "night mode"],
    "analytics": ["analytics", "reporting"],
    "performance": ["performance", "latency", "load time", "page speed"],
    "reliability": ["outage", "downtime", "failover", "uptime", "availability"],
    "rate_limit": [
        "rate limit",
        "rate limits",
        "rate limiting",
        "rate limiter",
        "throttling",
        "quota",
        "quotas",
    ],
    "api": ["api", "endpoint", "endpoints", "graphql"],
    "webhook": ["webhook", "webhooks", "callback url"],
    "comments": ["comment", "comments", "replies", "threaded"],
    "history": ["version history", "revision history", "versioning"],
    "localisation": [
        "localisation",
        "localization",
        "internationalisation",
        "internationalization",
        "locale",
        "locales",
        "i18n",
        "l10n",
        "translation",
        "translations",
    ],
    "friction": ["friction", "drop-off", "drop-offs", "abandonment", "abandon", "conversion"],
    "admin": ["admin", "admins", "administrator", "administrators"],
    "experiment": ["a/b test", "ab test", "experiment", "split test"],
    "account_deletion": ["account deletion", "delete account", "close account", "right to be forgotten"],
    "audit": ["audit log", "audit trail", "activity log"],
}


def _compile() -> tuple[re.Pattern[str], dict[str, str]]:
    concept_of = {
        p: f"{CONCEPT_PREFIX}{name.replace('_', '')}" for name, phrases in GROUPS.items() for p in phrases
    }
    alternatives = "|".join(re.escape(p) for p in sorted(concept_of, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])"), concept_of


_PATTERN, _CONCEPT_OF = _compile()


def concepts(text: str) -> list[str]:
    """The concept tokens a text mentions, e.g. ["conceptsignup", "conceptmobile"]."""
    return list(_concepts(text))


@lru_cache(maxsize=100_000)
def _concepts(text: str) -> tuple[str, ...]:
    # Cached: one overlap run asks for the same item text several times (its vectors, the neighbour
    # search, the explanation), and the pattern scan is most of the cost of a large run's features.
    return tuple(sorted({_CONCEPT_OF[m.group(0)] for m in _PATTERN.finditer(text.lower())}))
