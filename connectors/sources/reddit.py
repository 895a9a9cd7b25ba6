"""Reddit mentions: posts matching the configured terms, site-wide or in chosen subreddits.

Auth (github.com/reddit-archive/reddit/wiki/OAuth2, "Application Only OAuth"): POST
https://www.reddit.com/api/v1/access_token with HTTP Basic client_id:client_secret and
``grant_type=client_credentials`` gives a bearer token (valid ~24 h) for https://oauth.reddit.com.
API (reddit.com/dev/api#GET_search): GET /search or /r/{subreddit}/search with ``q``, ``sort=new``,
``restrict_sr=1`` (in a subreddit), ``limit`` (max 100), ``after`` (the ``name`` of the last post of
the previous page, returned as ``data.after``), ``raw_json=1`` (no HTML-escaping of text). The answer
is a ``Listing`` of ``t3`` things.
Incremental: search by ``new`` and stop at the first post older than the cursor's ``since`` (the newest
post seen by the last sync, minus an hour of overlap for Reddit's search indexing lag).
Rate limits: every answer carries ``X-Ratelimit-Used``, ``X-Ratelimit-Remaining`` and
``X-Ratelimit-Reset`` (seconds to the end of the window); when Remaining reaches 0 the connector waits
for Reset before the next call, and a 429 waits for Reset too.
Each subreddit (or "all") is its own stream, so a subreddit can map to a product.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient, parse_reset_header
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product
from productops.signals.pii import respondent_hash

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 (a URL, not a secret)
API = "https://oauth.reddit.com"
OVERLAP = 3600
PAGE_SIZE = 100


class RedditConfigForm(forms.Form):
    client_id = forms.CharField(
        max_length=100,
        help_text=(
            "reddit.com/prefs/apps > create another app > type 'script' or 'web app'; the id is the string "
            "under the app's name."
        ),
    )
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The app's secret. Stored encrypted; leave blank to keep the stored one.",
    )
    user_agent = forms.CharField(
        max_length=200,
        initial="productops/1.0 (by /u/your_username)",
        help_text="Reddit asks for a unique User-Agent naming your Reddit account; generic ones are throttled.",
    )
    terms = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One term per line; a post matching any of them is a mention. Quote phrases: "acme app".',
    )
    subreddits = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One subreddit per line, without r/ (blank: search all of Reddit).",
    )
    start_date = forms.DateField(help_text="The first sync reads posts made on or after this day (UTC).")
    product_map = ProductMapField(
        help_text=(
            'Subreddit -> product slug, e.g. {"acmeapp": "acme-app"}. Other subreddits get the '
            "connection's product."
        )
    )


def _lines(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").splitlines()
    return [str(i).strip() for i in items if str(i).strip()]


@register
class RedditConnector(Connector):
    kind = "reddit"
    label = "Reddit"
    family = "mentions"
    description = (
        "Reddit posts that mention your terms, site-wide or in chosen subreddits: title, text, link, "
        "score and a hashed author; a subreddit can map to a product."
    )
    docs_url = "https://www.reddit.com/dev/api#GET_search"
    config_form = RedditConfigForm
    secret_fields = ("client_secret",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token: str | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            ua = str(self.config.get("user_agent") or "productops/1.0")
            self._client = HttpClient(headers={"User-Agent": ua}, reset_headers=("X-Ratelimit-Reset",))
        return self._client

    # -- auth

    def _access_token(self) -> str:
        if self._token:
            return self._token
        secret = self.secrets.get("client_secret", "")
        if not secret:
            raise ConnectorError(
                "No Reddit client secret is stored. Paste it in the connection's settings.", permanent=True
            )
        basic = base64.b64encode(f"{self.config.get('client_id', '')}:{secret}".encode()).decode()
        payload = self.client.request(
            "POST",
            TOKEN_URL,
            headers={"Authorization": f"Basic {basic}"},
            data={"grant_type": "client_credentials"},
            expect_json=True,
        ).json()
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            # Reddit answers a wrong id/secret pair with 401, but some refusals come back as 200 + "error".
            error = payload.get("error") if isinstance(payload, dict) else None
            raise ConnectorError(
                f"Reddit refused the app credentials ({error or 'no access_token'}). Check the client id and "
                f"secret in the connection's settings.",
                permanent=True,
            )
        self._token = str(token)
        return self._token

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        response = self.client.request(
            "GET",
            f"{API}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self._access_token()}"},
            expect_json=True,
        )
        self._pace(response)
        return response.json()

    def _pace(self, response: requests.Response) -> None:
        """Reddit's budget is per window: with none left, wait for the window to reset before going on."""
        try:
            remaining = float(response.headers.get("X-Ratelimit-Remaining", "1"))
        except ValueError:
            return
        if remaining < 1:
            wait = parse_reset_header(response.headers.get("X-Ratelimit-Reset"))
            if wait:
                self.client.sleep(wait)

    # -- the interface

    def check(self) -> CheckResult:
        try:
            self._access_token()
            listing = self._get("/search", {"q": (self._terms() or ["reddit"])[0], "limit": 1, "sort": "new"})
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        found = len((listing.get("data") or {}).get("children") or [])
        return CheckResult(
            True, f"Connected to Reddit with app-only OAuth; the search answered ({found} post)."
        )

    def streams(self) -> list[str]:
        subs = _lines(self.config.get("subreddits"))
        return [f"r/{s.removeprefix('r/')}" for s in subs] or ["all"]

    def _terms(self) -> list[str]:
        return _lines(self.config.get("terms"))

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        terms = self._terms()
        if not terms:
            raise ConnectorError("Add at least one search term to the connection's settings.", permanent=True)
        sub = stream.removeprefix("r/") if stream != "all" else None
        product = resolve_products(self.config.get("product_map")).get(sub or "")
        path = f"/r/{sub}/search" if sub else "/search"
        state = dict(cursor) if isinstance(cursor, dict) else {}
        since = float(state.get("since", self._start()))
        high = float(state.get("high", since))
        after = state.get("after")
        query = " OR ".join(terms)
        while True:
            params: dict[str, Any] = {
                "q": query,
                "sort": "new",
                "limit": PAGE_SIZE,
                "raw_json": 1,
                "type": "link",
            }
            if sub:
                params["restrict_sr"] = 1
            if after:
                params["after"] = after
            listing = self._get(path, params)
            data = listing.get("data") if isinstance(listing, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("children"), list):
                raise ConnectorError("Reddit sent a search answer that is not a Listing.")
            records, reached_old = [], False
            for child in data["children"]:
                post = child.get("data") or {}
                created = float(post.get("created_utc") or 0)
                if created < since:
                    reached_old = True  # sorted by new: everything after this is older still
                    break
                high = max(high, created)
                records.append(self._record(post, product))
            following = data.get("after")
            if following and not reached_old and following != after:
                yield Page(records, {"since": since, "high": high, "after": following})
                after = following
                continue
            yield Page(records, {"since": max(since, high - OVERLAP)}, done=True)
            return

    def _start(self) -> float:
        start = self.config.get("start_date")
        return datetime.fromisoformat(str(start)).replace(tzinfo=UTC).timestamp() if start else 0.0

    def _record(self, post: dict[str, Any], product: int | None) -> Record:
        author = post.get("author") or ""
        permalink = post.get("permalink") or ""
        values: dict[str, Any] = {
            "platform": "reddit",
            "url": (f"https://www.reddit.com{permalink}" if permalink else post.get("url") or "")[:1000],
            "title": str(post.get("title") or "")[:500],
            "text": post.get("selftext") or "",  # Markdown, already plain text with raw_json=1
            "author_hash": respondent_hash(f"reddit:{author}") if author and author != "[deleted]" else "",
            "posted_at": utc(post.get("created_utc")),
            "score": int(post.get("score") or 0),
        }
        return Record(
            "signals.Mention",
            f"reddit:{post.get('name') or 't3_' + str(post['id'])}",
            with_product(values, product),
        )
