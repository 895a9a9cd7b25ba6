"""The one HTTP client every connector uses.

`HttpClient` wraps a requests Session with:

- connect and read timeouts and a ``productops/<version>`` User-Agent;
- the SSRF guard (connectors.ssrf) on every hop: the host is resolved once, every address checked,
  and the connection made to that checked address while TLS (SNI and certificate) and the Host
  header still use the host name, so DNS cannot swap in an internal address after the check;
- redirects followed by hand, at most 3, each re-checked; secret headers are dropped when a
  redirect leaves the original origin;
- a total deadline per attempt (CONNECTOR_REQUEST_DEADLINE; the read timeout alone is per socket read,
  so a server dripping a byte at a time could hold a sync for ever) and a response-size cap
  (CONNECTOR_MAX_RESPONSE_BYTES; the body is streamed and refused past the cap, never read whole);
- retry and rate-limit semantics, decided in one place (`classify`):
  - a rate limit (429; a 403 whose headers or body say rate limit; a vendor-specific signal such as
    Linear's RATELIMITED) waits for Retry-After, else for the connector's reset header (preferring the
    window whose remaining count is 0), else backs off; a wait longer than the in-process limit raises
    ConnectorError(retry_after=...) so the sync loop requeues the run at that time, or fails it with the
    reason when the wait exceeds CONNECTOR_RETRY_CAP;
  - a transient failure (5xx, 408, timeouts, resets, truncated JSON) backs off exponentially with full
    jitter from about a second, whatever reset headers say: a reset header means "wait" only when the
    response says the limit is exhausted;
  - after the last attempt, ConnectorError(permanent=False);
- 401/403 and other 4xx as ConnectorError(permanent=True) with a message that says what to fix;
- errors and logs that never show a secret (connectors.redaction: every secret header value, in any form).

Pagination helpers (`paginate_link`, `paginate_cursor`, `paginate_offset`, `paginate_page`) are
generators yielding ``(response_json, next_state)``; ``next_state`` is None after the last page and is
what a connector saves as its cursor to resume after that page.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from connectors import redaction, ssrf
from connectors.base import ConnectorError

logger = logging.getLogger(__name__)

try:
    VERSION = metadata.version("productops")
except metadata.PackageNotFoundError:  # running from a checkout without an install
    VERSION = "0"
USER_AGENT = f"productops/{VERSION}"

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
MAX_REDIRECTS = 3
REDIRECT_CODES = {301, 302, 303, 307, 308}
TRANSIENT_CODES = {408, 425, 500, 502, 503, 504} | set(range(520, 530))
DEFAULT_DEADLINE = 120.0  # seconds for one attempt: connect, headers and the whole body
DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024
CHUNK = 64 * 1024
# A response header naming how many requests are left: X-RateLimit-Remaining (GitHub, Intercom, Jira),
# RateLimit-Remaining (GitLab, IETF draft), ratelimit-remaining / X-Rate-Limit-Remaining (Zendesk),
# X-Ratelimit-Remaining (Reddit, a float), X-RateLimit-Requests-Remaining (Linear),
# X-Ratelimit-Route-Remaining / X-Ratelimit-Global-Remaining (LaunchDarkly).
REMAINING_HEADER = re.compile(r"rate-?limit.*remaining", re.I)
RATE_LIMIT_TEXT = re.compile(r"rate[ _-]?limit|too many requests|throttl", re.I)

SENSITIVE_HEADER = re.compile(
    r"authorization|token|secret|api[-_]?key|password|cookie|signature|session", re.I
)
SENSITIVE_PARAM = re.compile(
    r"^(access_token|refresh_token|token|api_key|apikey|key|secret|client_secret|password|passwd|signature|sig|auth"
    r"|private_token|x-api-key|code)$",
    re.I,
)
REDACTED = "***"


# --- Redaction ----------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL with credentials in userinfo and sensitive query parameters replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if SENSITIVE_PARAM.match(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if SENSITIVE_HEADER.search(k) else v) for k, v in headers.items()}


def summarise_body(response: requests.Response, secrets: Sequence[str] = (), limit: int = 300) -> str:
    """A short, single-line version of a vendor's error body, with any secret we sent removed."""
    text = ""
    try:
        payload = response.json()
    except ValueError:
        text = response.text or ""
    else:
        if isinstance(payload, dict):
            for key in ("error_description", "message", "error", "errors", "detail", "description", "title"):
                if payload.get(key):
                    value = payload[key]
                    text = value if isinstance(value, str) else json.dumps(value)
                    break
        text = text or json.dumps(payload)
    text = redaction.redact(" ".join(text.split()), secrets)
    return text[:limit] + ("…" if len(text) > limit else "")


# --- Retry-After --------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta seconds or an HTTP date. None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def parse_reset_header(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a vendor reset header (X-RateLimit-Reset, ratelimit-reset, ...).

    Vendors disagree: GitHub, GitLab and Intercom send an epoch timestamp, Linear and LaunchDarkly epoch
    milliseconds, Zendesk, Reddit and the IETF draft seconds to wait, Jira Cloud an ISO 8601 time
    ("2024-05-01T10:15Z"). A value beyond a year's worth of seconds can only be a timestamp.
    """
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        iso = _parse_iso(value.strip())
        if iso is not None:
            now = time.time() if now is None else now
            return max(0.0, iso - now)
        return parse_retry_after(value, now)
    if number > 365 * 24 * 3600:
        now = time.time() if now is None else now
        if number > 1e12:  # milliseconds
            number /= 1000.0
        return max(0.0, number - now)
    return max(0.0, number)


def _parse_iso(value: str) -> float | None:
    from datetime import UTC, datetime

    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _number(value: str | None) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def exhausted(response: requests.Response) -> bool:
    """Does any rate-limit "remaining" header say nothing is left (0, or "0.0" from Reddit)?"""
    for name, value in response.headers.items():
        if REMAINING_HEADER.search(name):
            number = _number(value)
            if number is not None and number <= 0:
                return True
    return False


def _body_says_rate_limit(response: requests.Response) -> bool:
    try:
        text = response.text[:2000]
    except Exception:
        return False
    return bool(RATE_LIMIT_TEXT.search(text))


def classify(
    response: requests.Response, extra_rate_limit: Callable[[requests.Response], bool] | None = None
) -> str:
    """ "ok", "rate_limit", "transient" or "permanent": the one place that decides what a status means."""
    status = response.status_code
    if 200 <= status < 300:
        return "ok"
    if extra_rate_limit is not None and extra_rate_limit(response):
        return "rate_limit"
    if status == 429:
        return "rate_limit"
    if status == 403 and (
        "Retry-After" in response.headers or exhausted(response) or _body_says_rate_limit(response)
    ):
        # GitHub's primary (remaining 0) and secondary ("You have exceeded a secondary rate limit") limits.
        return "rate_limit"
    if status in TRANSIENT_CODES:
        return "transient"
    return "permanent"


# --- The pinned-address adapter -----------------------------------------------------------------


class PinnedAddressAdapter(HTTPAdapter):
    """Checks every request with the SSRF guard and connects to the checked address.

    The URL keeps its host name, so the Host header, TLS SNI and certificate verification all use the
    name; only the TCP connection goes to the pinned address. Pools are keyed by address and name, so a
    later request that resolves differently never reuses a connection to the old address.
    """

    def __init__(self, guard: bool = True, **kwargs: Any) -> None:
        self.guard = guard
        self._local = threading.local()
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        target = ssrf.resolve_target(request.url or "") if self.guard else None
        self._local.target = target
        if target is not None:
            default_port = 443 if target.scheme == "https" else 80
            host = f"[{target.host}]" if ":" in target.host else target.host
            request.headers["Host"] = host if target.port == default_port else f"{host}:{target.port}"
        try:
            return super().send(request, *args, **kwargs)
        finally:
            self._local.target = None

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        target: ssrf.Target | None = getattr(self._local, "target", None)
        if target is None:
            return super().get_connection_with_tls_context(request, verify, proxies=None, cert=cert)
        _host_params, key_attributes = self.build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(key_attributes)
        if target.scheme == "https":
            pool_kwargs.update(server_hostname=target.host, assert_hostname=target.host)
        # Proxies are ignored on purpose: a proxy would resolve the name itself and undo the pin.
        return self.poolmanager.connection_from_host(
            host=target.address, port=target.port, scheme=target.scheme, pool_kwargs=pool_kwargs
        )


# --- The client ---------------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    """Retries inside one request. Kept small: the sync loop retries a failed page again later (the
    Celery task is requeued with its own backoff), so a blip is retried here and a longer outage there,
    instead of every layer multiplying the other's attempts."""

    max_attempts: int = 4
    base_delay: float = 1.0  # seconds; attempt n waits uniform(0, min(cap, base * 2**n))
    max_delay: float = 30.0
    # A longer server-requested wait is not slept in-process (it would hold a worker): the request fails
    # with retry_after, and the sync loop requeues the run for then (or fails it beyond CONNECTOR_RETRY_CAP).
    max_retry_after: float = 60.0
    rate_limit_floor: float = 0.0  # the least wait after a rate limit with no usable header (GitHub: 60 s)


class ResponseTooLarge(Exception):
    pass


class DeadlineExceeded(Exception):
    pass


class HttpClient:
    """requests, with timeouts, a deadline, a size cap, retries, the SSRF guard and redaction.

    `secret_headers` names the headers that carry credentials (redacted everywhere and dropped on a
    cross-origin redirect); `reset_headers` names the vendor's rate-limit reset headers, honoured only
    when a response is a rate limit (see `classify`); `rate_limited_if` (alias `transient_if`) spots a
    vendor's own rate-limit signal on another status (Linear: HTTP 400 + RATELIMITED). `sleep` and `rand`
    are injectable so tests never really wait.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        secret_headers: Sequence[str] = ("Authorization",),
        reset_headers: Sequence[str] = (),
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        guard: bool = True,
        max_redirects: int = MAX_REDIRECTS,
        transient_if: Callable[[requests.Response], bool] | None = None,
        rate_limited_if: Callable[[requests.Response], bool] | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
        reset_only_when_exhausted: bool = False,
    ) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or .netrc from the environment: they bypass the guard
        adapter = PinnedAddressAdapter(guard=guard, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if headers:
            self.session.headers.update(headers)
        self.secret_headers = {h.lower() for h in secret_headers}
        self.reset_headers = tuple(reset_headers)
        # GitHub: a reset header is the primary window's; a secondary limit (remaining > 0) ignores it.
        self.reset_only_when_exhausted = reset_only_when_exhausted
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.max_redirects = max_redirects
        # Vendors that signal a rate limit with another status (Linear: HTTP 400 + RATELIMITED).
        self.rate_limited_if = rate_limited_if or transient_if
        self.deadline = float(
            deadline if deadline is not None else _setting("CONNECTOR_REQUEST_DEADLINE", DEFAULT_DEADLINE)
        )
        self.max_response_bytes = int(
            max_response_bytes
            if max_response_bytes is not None
            else _setting("CONNECTOR_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES)
        )

    # -- public API

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request("GET", url, params=params, expect_json=True, **kwargs).json()

    def secret_values(self, extra: Mapping[str, str] | None = None) -> list[str]:
        """The values of every credential header this client sends (session and per-request)."""
        out = []
        for name, value in [*self.session.headers.items(), *(extra or {}).items()]:
            if value and (name.lower() in self.secret_headers or SENSITIVE_HEADER.search(name)):
                out.append(str(value))
        return out

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        expect_json: bool = False,
    ) -> requests.Response:
        """Send one logical request, retrying transient failures; return the final 2xx response."""
        secrets = self.secret_values(headers)
        redaction.add_secrets(secrets)  # the sync's redaction scope now knows the exact values sent
        host = self._host(url)
        last_error = "no attempt was made"
        attempt = 0
        for attempt in range(1, self.retry.max_attempts + 1):
            server_wait: float | None = None
            rate_limited = False
            try:
                response = self._send_following_redirects(method, url, params, headers, json_body, data)
            except ConnectorError:
                raise  # the SSRF guard, redirect limits and the size cap are not worth retrying
            except DeadlineExceeded:
                last_error = f"{host} did not send its whole response within {self.deadline:.0f}s"
            except requests.exceptions.SSLError:
                raise ConnectorError(
                    f"The TLS certificate of {host} could not be verified for that name. "
                    f"Check the host name in the URL; a self-hosted tool needs a certificate from a "
                    f"trusted authority.",
                    permanent=True,
                ) from None
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_error = f"{type(exc).__name__} talking to {host}"
            except requests.exceptions.ChunkedEncodingError:
                last_error = f"the response from {host} ended early"
            except requests.RequestException as exc:
                raise ConnectorError(
                    f"The request to {redact_url(url)} could not be sent ({type(exc).__name__}). "
                    f"Check the URL.",
                    permanent=True,
                ) from None
            else:
                status = response.status_code
                kind = classify(response, self.rate_limited_if)
                if kind == "ok":
                    if not expect_json or self._json_ok(response):
                        return response
                    last_error = f"{host} sent a truncated or malformed JSON body (HTTP {status})"
                elif kind == "rate_limit":
                    rate_limited = True
                    server_wait = self._rate_limit_wait(response)
                    body = summarise_body(response, secrets, limit=160)
                    last_error = f"{host} is rate-limiting this connection (HTTP {status}{': ' + body if body else ''})"
                elif kind == "transient":
                    # A 5xx is not a rate limit, whatever X-RateLimit-Reset says: back off from seconds.
                    # Only an explicit Retry-After is honoured, and never beyond the backoff cap.
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    if retry_after is not None:
                        server_wait = min(retry_after, self.retry.max_delay)
                    last_error = f"{host} answered HTTP {status}"
                else:
                    raise self._permanent_error(response, url, secrets)
            if rate_limited:
                if server_wait is None:  # no usable header: back off, but never below the vendor's floor
                    delay = max(self._backoff(attempt), self.retry.rate_limit_floor)
                else:
                    delay = server_wait
                if delay > self.retry.max_retry_after:
                    raise ConnectorError(
                        f"{last_error}; it asks to wait {_duration(delay)}. The sync resumes from where it "
                        f"stopped once the limit resets.",
                        permanent=False,
                        retry_after=delay,
                        rate_limited=True,
                    )
            else:
                delay = max(self._backoff(attempt), server_wait or 0.0)
            if attempt >= self.retry.max_attempts:
                break
            logger.warning(
                "http retry %s/%s after %.1fs: %s (%s %s)",
                attempt,
                self.retry.max_attempts,
                delay,
                last_error,
                method,
                redact_url(url),
            )
            self.sleep(delay)
        raise ConnectorError(
            f"{last_error}; gave up after {attempt} attempt(s). This is usually temporary: the sync "
            f"tries again later.",
            permanent=False,
        )

    # -- internals

    def _send_following_redirects(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
        data: Any,
    ) -> requests.Response:
        ssrf.precheck(url)  # fail fast without DNS; the adapter resolves once, checks and pins
        origin = _origin(url)
        extra = dict(headers or {})
        drop_secrets = False
        deadline = time.monotonic() + self.deadline
        for hop in range(self.max_redirects + 1):
            request_headers: dict[str, str | None] = dict(extra)
            if drop_secrets:
                # requests' own Authorization stripping misses vendor headers (PRIVATE-TOKEN, X-Api-Key...);
                # a None value removes a session header for this request.
                for name in [*self.session.headers, *extra]:
                    if name.lower() in self.secret_headers or SENSITIVE_HEADER.search(name):
                        request_headers[name] = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded()
            connect, read = self.timeout
            response = self.session.request(
                method,
                url,
                params=params,
                headers=request_headers,
                json=json_body,
                data=data,
                timeout=(min(connect, remaining), min(read, remaining)),
                allow_redirects=False,
                stream=True,
            )
            if response.status_code not in REDIRECT_CODES or "Location" not in response.headers:
                self._read_body(response, url, deadline)
                return response
            response.close()
            if hop >= self.max_redirects:
                break
            url = urljoin(response.url or url, response.headers["Location"])
            ssrf.precheck(url)
            params = None  # the Location carries its own query
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, json_body, data = "GET", None, None
            if _origin(url) != origin:
                drop_secrets = True
        raise ConnectorError(
            f"{self._host(url)} redirected more than {self.max_redirects} times. Check the URL.",
            permanent=True,
        )

    def _read_body(self, response: requests.Response, url: str, deadline: float) -> None:
        """Stream the body into memory under the deadline and the size cap, then release the connection.

        A buffered read keeps reading while bytes trickle in, so a per-read timeout never fires on a
        server that drips a byte at a time: a timer shuts the socket down at the deadline instead."""
        cap = self.max_response_bytes
        declared = _number(response.headers.get("Content-Length"))
        if declared is not None and declared > cap:
            response.close()
            raise self._too_large(url, cap)
        body = bytearray()
        sock = _socket_of(response)
        timer = None
        if sock is not None:
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, args=(sock,))
            timer.daemon = True
            timer.start()
        try:
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > cap:
                    raise self._too_large(url, cap)
                if time.monotonic() >= deadline:
                    raise DeadlineExceeded()
        except (ConnectorError, DeadlineExceeded):
            response.close()
            raise
        except Exception:
            response.close()
            if time.monotonic() >= deadline - 0.05:
                raise DeadlineExceeded() from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        response._content = bytes(body)
        response._content_consumed = True  # type: ignore[attr-defined]
        release = getattr(response.raw, "release_conn", None)
        if release is not None:
            release()

    def _too_large(self, url: str, cap: int) -> ConnectorError:
        return ConnectorError(
            f"{self._host(url)} sent more than {_size(cap)} in one response ({redact_url(url)}), the most "
            f"CONNECTOR_MAX_RESPONSE_BYTES allows. Narrow the connection's scope or date range, or raise "
            f"the limit if the source really pages that much at once.",
            permanent=True,
        )

    def _json_ok(self, response: requests.Response) -> bool:
        if not response.content:
            return False
        try:
            response.json()
        except ValueError:
            return False
        return True

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        """Retry-After, else the reset of the exhausted window among the connector's reset headers
        (the latest of them when none says which window is spent), else None."""
        value = parse_retry_after(response.headers.get("Retry-After"))
        if value is not None:
            return value
        spent: list[float] = []
        other: list[float] = []
        for name in self.reset_headers:
            wait = parse_reset_header(response.headers.get(name))
            if wait is None:
                continue
            paired = _number(response.headers.get(_remaining_name(name)))
            (spent if paired is not None and paired <= 0 else other).append(wait)
        if spent:
            return max(spent)
        if self.reset_only_when_exhausted:
            return None
        return max(other) if other else None

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spread retries of many workers evenly over the window.
        ceiling = min(self.retry.max_delay, self.retry.base_delay * (2 ** (attempt - 1)))
        return float(self.rand() * ceiling)

    def _permanent_error(
        self, response: requests.Response, url: str, secrets: Sequence[str]
    ) -> ConnectorError:
        status = response.status_code
        host = self._host(url)
        body = summarise_body(response, secrets)
        if status in (401, 403):
            what = "refused the credentials" if status == 401 else "says the credentials lack permission"
            return ConnectorError(
                f"{host} {what} (HTTP {status}{': ' + body if body else ''}). Check the API token in the "
                f"connection's settings: it may be wrong, expired or revoked, or missing a scope this "
                f"connector needs.",
                permanent=True,
            )
        if status == 404:
            hint = "Check the URL and any project or account id in the connection's settings."
        else:
            hint = "Check the connection's settings."
        return ConnectorError(
            f"{host} answered HTTP {status} for {redact_url(url)}{': ' + body if body else ''}. {hint}",
            permanent=True,
        )

    @staticmethod
    def _host(url: str) -> str:
        try:
            return urlsplit(url).hostname or url
        except ValueError:
            return "the server"


def _setting(name: str, default: float) -> float:
    from django.conf import settings

    try:
        return float(getattr(settings, name, default))
    except Exception:  # settings not configured (a script using the client alone)
        return default


def _shut(sock: Any) -> None:
    import contextlib
    import socket

    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _socket_of(response: requests.Response) -> Any:
    """The socket under a streamed response: the pooled connection's, or (when http.client has handed the
    connection over to a response that closes it) the one behind the response's file object."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        return sock
    fp = getattr(getattr(response.raw, "_fp", None), "fp", None)
    return getattr(getattr(fp, "raw", None), "_sock", None)


def _remaining_name(reset_name: str) -> str:
    """X-RateLimit-Requests-Reset -> X-RateLimit-Requests-Remaining (the window's own count)."""
    return re.sub(r"reset$", "Remaining", reset_name, flags=re.I)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


# --- JSON paths and pagination ------------------------------------------------------------------

_MISSING = object()


def get_path(obj: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path ("data.items", "meta.next_cursor", "items.0.id") into JSON. "" is obj."""
    if not path:
        return obj
    current = obj
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and (part.isdigit() or (part.startswith("-") and part[1:].isdigit())):
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            current = _MISSING
        if current is _MISSING:
            return default
    return current


def records_at(payload: Any, records_path: str) -> list[Any]:
    records = get_path(payload, records_path)
    if records is None:
        return []
    if not isinstance(records, list):
        raise ConnectorError(
            f"The records path {records_path or '(top level)'!r} does not point at a list in the response. "
            f"Check the records path in the connection's settings.",
            permanent=True,
        )
    return records


def paginate_link(
    client: HttpClient, url: str, *, params: Mapping[str, Any] | None = None, start: str | None = None
) -> Iterator[tuple[Any, str | None]]:
    """Follow RFC 8288 Link headers (rel="next"); the state is the next page's URL.

    `start` resumes from a saved next-page URL. A next link to another origin is refused: following it
    would send the connection's credentials to a host the user never configured.
    """
    origin = _origin(url)
    next_url: str | None = start or url
    first = start is None
    while next_url:
        if _origin(next_url) != origin:
            raise ConnectorError(
                f"The next-page link points at another host ({client._host(next_url)}, not "
                f"{client._host(url)}); refusing to send the connection's credentials there.",
                permanent=True,
            )
        response = client.request("GET", next_url, params=params if first else None, expect_json=True)
        first = False
        link = response.links.get("next", {}).get("url")
        following = urljoin(next_url, link) if link else None
        if following == next_url:
            following = None  # a server pointing at itself would loop forever
        yield response.json(), following
        next_url = following


def paginate_cursor(
    client: HttpClient,
    url: str,
    *,
    cursor_path: str,
    cursor_param: str = "cursor",
    params: Mapping[str, Any] | None = None,
    start: str | None = None,
    has_more_path: str | None = None,
) -> Iterator[tuple[Any, str | None]]:
    """A cursor field in the body ("meta.next_cursor") sent back as a query parameter.

    Some APIs (Zendesk) keep sending a cursor on the last page and say `has_more: false` instead;
    `has_more_path` names that flag.
    """
    cursor = start
    seen: set[str] = set()
    while True:
        query = dict(params or {})
        if cursor:
            query[cursor_param] = cursor
        payload = client.get_json(url, params=query)
        following = get_path(payload, cursor_path)
        following = str(following) if following not in (None, "", False) else None
        if has_more_path and not get_path(payload, has_more_path):
            following = None
        if following is not None and (following == cursor or following in seen):
            following = None
        if following is not None:
            seen.add(following)
        yield payload, following
        if following is None:
            return
        cursor = following


def paginate_offset(
    client: HttpClient,
    url: str,
    *,
    records_path: str,
    limit: int = 100,
    offset_param: str = "offset",
    limit_param: str = "limit",
    params: Mapping[str, Any] | None = None,
    start: int = 0,
) -> Iterator[tuple[Any, int | None]]:
    """offset/limit paging; the last page is the first one shorter than `limit`."""
    offset = start
    while True:
        payload = client.get_json(url, params={**(params or {}), offset_param: offset, limit_param: limit})
        count = len(records_at(payload, records_path))
        following = offset + count if count >= limit and count > 0 else None
        yield payload, following
        if following is None:
            return
        offset = following


def paginate_page(
    client: HttpClient,
    url: str,
    *,
    records_path: str,
    page_size: int = 100,
    page_param: str = "page",
    size_param: str | None = "per_page",
    params: Mapping[str, Any] | None = None,
    start: int = 1,
) -> Iterator[tuple[Any, int | None]]:
    """page=1,2,3... paging; stops on an empty or short page."""
    page = start
    while True:
        query = {**(params or {}), page_param: page}
        if size_param:
            query[size_param] = page_size
        payload = client.get_json(url, params=query)
        count = len(records_at(payload, records_path))
        following = page + 1 if count >= page_size and count > 0 else None
        yield payload, following
        if following is None:
            return
        page = following
