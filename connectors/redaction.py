"""One redaction function for every place a connection's secrets could leak: errors, logs, run history, e-mail.

A secret reaches a vendor in more forms than the value the lead typed: inside a header value
("Bearer <token>"), base64-encoded with a user name for basic auth ("Basic base64(user:token)"),
URL-encoded in a query string. A vendor's error can echo any of them. `forms()` expands each secret into
every form we send or a vendor might echo, and `redact()` replaces all of them, longest first.

Two ways in:
- `redact(text, secrets)` with the secrets at hand (the "Test connection" button, the sync loop);
- `secret_scope(secrets)` around a sync: inside it `redact(text)` also knows every secret, the HTTP
  client adds the exact header values it sends (so the base64 of "email:token" that only the connector
  builds is known too), and `RedactingFilter` scrubs every log record written in the scope, whoever logs it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SECRET = 4  # a secret shorter than this can't be told apart from ordinary text
MIN_PIECE = 8  # pieces split out of a header value ("Bearer abc…") must be at least this long
AUTH_SCHEMES = {"basic", "bearer", "token", "bot", "digest", "oauth", "apikey", "api-key", "sso-key", "key"}

_scope: ContextVar[set[str] | None] = ContextVar("productops_secret_scope", default=None)


def _b64_forms(value: str) -> set[str]:
    raw = value.encode()
    out = set()
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        out.add(encoded)
        out.add(encoded.rstrip("="))
    return out


def _decoded_basic(piece: str) -> str | None:
    """The "user:password" inside a base64 basic-auth credential, or None."""
    if len(piece) < MIN_PIECE or len(piece) % 4 not in (0, 2, 3):
        return None
    try:
        text = base64.b64decode(piece + "=" * (-len(piece) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text if ":" in text and text.isprintable() else None


def forms(values: Iterable[str]) -> set[str]:
    """Every form of each secret that could appear in text: bare, header pieces, basic-auth parts,
    URL-encoded (quote and quote_plus) and base64 (standard and URL-safe, with and without padding)."""
    seeds: set[str] = set()
    for value in values:
        if not value or not isinstance(value, str):
            continue
        value = value.strip()
        if len(value) >= MIN_SECRET:
            seeds.add(value)
        for piece in value.split():
            if len(piece) >= MIN_PIECE and piece.lower() not in AUTH_SCHEMES:
                seeds.add(piece)
    for seed in list(seeds):
        decoded = _decoded_basic(seed)
        if decoded is None:
            continue
        user, _, password = decoded.partition(":")
        seeds.add(decoded)
        if len(password) >= MIN_SECRET:
            seeds.add(password)
        if len(user) >= MIN_PIECE and "@" not in user:  # an e-mail is a name, not a secret
            seeds.add(user)
    out: set[str] = set()
    for seed in seeds:
        out |= {seed, quote(seed, safe=""), quote_plus(seed), *_b64_forms(seed)}
    return {f for f in out if len(f) >= MIN_SECRET}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every form of every secret (given, or known to the current scope) replaced."""
    if not text:
        return text
    known = set(forms(secrets))
    scoped = _scope.get()
    if scoped:
        known |= scoped
    for value in sorted(known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


@contextmanager
def secret_scope(secrets: Iterable[str] = ()) -> Iterator[set[str]]:
    """Within the block, redact() and the log filter know these secrets (and any added later)."""
    outer = _scope.get()
    current = set(outer or ()) | forms(secrets)
    token = _scope.set(current)
    try:
        yield current
    finally:
        _scope.reset(token)


def add_secrets(values: Iterable[str]) -> None:
    """Tell the current scope (if any) about more secret values, e.g. the header values really sent."""
    scoped = _scope.get()
    if scoped is not None:
        scoped |= forms(values)


def scoped_secrets() -> set[str]:
    return set(_scope.get() or ())


class RedactingFilter(logging.Filter):
    """Scrubs the current scope's secrets from every log record (message, arguments and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _scope.get():
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of `logger` (the root logger by default), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
