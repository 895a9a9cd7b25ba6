"""The one HTTP client every connector uses.

`HttpClient` wraps a requests Session with:

- connect and read timeouts and a ``productops/<version>`` User-Agent;
- the SSRF guard (connectors.ssrf) on every hop: the host is resolved once, every address checked,
  and the connection made to that checked address while TLS (SNI and certificate) and the Host
  header still use the host name, so DNS cannot swap in an internal address after the check;
- redirects followed by hand, at most 3, each re-checked; secret headers are dropped when a
  redirect leaves the original origin;
- retries of transient failures (429, 5xx, timeouts, connection resets, truncated or malformed JSON)
  with exponential backoff and full jitter, honouring Retry-After (seconds or an HTTP date) and any
  vendor reset header the connector names; after the last attempt, ConnectorError(permanent=False);
- 401/403 and other 4xx as ConnectorError(permanent=True) with a message that says what to fix;
- logs that never show a secret: sensitive headers and query parameters are redacted.

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

from connectors import ssrf
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
TRANSIENT_CODES = {408, 425, 429, 500, 502, 503, 504} | set(range(520, 530))

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
    text = " ".join(text.split())
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
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

    Vendors disagree: GitHub sends an epoch timestamp, the IETF draft and GitLab's RateLimit-Reset
    send seconds to wait. A value beyond a year's worth of seconds can only be a timestamp.
    """
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return parse_retry_after(value, now)
    if number > 365 * 24 * 3600:
        now = time.time() if now is None else now
        if number > 1e12:  # milliseconds
            number /= 1000.0
        return max(0.0, number - now)
    return max(0.0, number)


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
    max_attempts: int = 5
    base_delay: float = 1.0  # seconds; attempt n waits uniform(0, min(cap, base * 2**n))
    max_delay: float = 60.0
    max_retry_after: float = 300.0  # a longer server-requested wait fails the run and defers to the schedule


class HttpClient:
    """requests, with timeouts, retries, the SSRF guard and redaction. One per connector instance.

    `secret_headers` names the headers that carry credentials (they are redacted in logs and dropped
    on a cross-origin redirect); `reset_headers` names vendor rate-limit headers to honour when no
    Retry-After is sent. `sleep` and `rand` are injectable so tests never really wait.
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
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.max_redirects = max_redirects
        # Vendors that signal a rate limit with another status (Linear: HTTP 400 + RATELIMITED).
        self.transient_if = transient_if

    # -- public API

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request("GET", url, params=params, expect_json=True, **kwargs).json()

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
        last_error = "no attempt was made"
        last_retry_after: float | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._send_following_redirects(method, url, params, headers, json_body, data)
            except ConnectorError:
                raise  # the SSRF guard and redirect limits are not worth retrying
            except requests.exceptions.SSLError:
                raise ConnectorError(
                    f"The TLS certificate of {self._host(url)} could not be verified for that name. "
                    f"Check the host name in the URL; a self-hosted tool needs a certificate from a "
                    f"trusted authority.",
                    permanent=True,
                ) from None
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_error = f"{type(exc).__name__} talking to {self._host(url)}"
            except requests.exceptions.ChunkedEncodingError:
                last_error = f"the response from {self._host(url)} ended early"
            except requests.RequestException as exc:
                raise ConnectorError(
                    f"The request to {redact_url(url)} could not be sent ({type(exc).__name__}). "
                    f"Check the URL.",
                    permanent=True,
                ) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if not expect_json or self._json_ok(response):
                        return response
                    last_error = f"{self._host(url)} sent a truncated or malformed JSON body (HTTP {status})"
                elif (
                    status in TRANSIENT_CODES
                    or _is_rate_limited_403(response)
                    or (self.transient_if is not None and self.transient_if(response))
                ):
                    retry_after = self._retry_after(response)
                    last_error = f"{self._host(url)} answered HTTP {status}"
                else:
                    raise self._permanent_error(response, url)
            last_retry_after = retry_after
            if attempt >= self.retry.max_attempts:
                break
            if retry_after is not None and retry_after > self.retry.max_retry_after:
                break
            delay = retry_after if retry_after is not None else self._backoff(attempt)
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
            f"{last_error}; gave up after {attempt} attempt(s). This is usually temporary: the next "
            f"scheduled "
            f"sync retries it.",
            permanent=False,
            retry_after=last_retry_after,
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
        for hop in range(self.max_redirects + 1):
            request_headers: dict[str, str | None] = dict(extra)
            if drop_secrets:
                # requests' own Authorization stripping misses vendor headers (PRIVATE-TOKEN, X-Api-Key...);
                # a None value removes a session header for this request.
                for name in [*self.session.headers, *extra]:
                    if name.lower() in self.secret_headers or SENSITIVE_HEADER.search(name):
                        request_headers[name] = None
            response = self.session.request(
                method,
                url,
                params=params,
                headers=request_headers,
                json=json_body,
                data=data,
                timeout=self.timeout,
                allow_redirects=False,
            )
            if response.status_code not in REDIRECT_CODES or "Location" not in response.headers:
                return response
            if hop >= self.max_redirects:
                break
            url = urljoin(response.url or url, response.headers["Location"])
            ssrf.precheck(url)
            params = None  # the Location carries its own query
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, json_body, data = "GET", None, None
            if _origin(url) != origin:
                drop_secrets = True
            response.close()
        raise ConnectorError(
            f"{self._host(url)} redirected more than {self.max_redirects} times. Check the URL.",
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

    def _retry_after(self, response: requests.Response) -> float | None:
        value = parse_retry_after(response.headers.get("Retry-After"))
        if value is not None:
            return value
        for name in self.reset_headers:
            value = parse_reset_header(response.headers.get(name))
            if value is not None:
                return value
        return None

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spread retries of many workers evenly over the window.
        ceiling = min(self.retry.max_delay, self.retry.base_delay * (2 ** (attempt - 1)))
        return float(self.rand() * ceiling)

    def _permanent_error(self, response: requests.Response, url: str) -> ConnectorError:
        status = response.status_code
        host = self._host(url)
        secrets = [str(v) for k, v in self.session.headers.items() if k.lower() in self.secret_headers]
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


def _is_rate_limited_403(response: requests.Response) -> bool:
    """GitHub and others answer a rate limit with 403 plus Retry-After or X-RateLimit-Remaining: 0."""
    if response.status_code != 403:
        return False
    headers = response.headers
    return "Retry-After" in headers or headers.get("X-RateLimit-Remaining") == "0"


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
