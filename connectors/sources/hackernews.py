"""Hacker News mentions, from the HN Search API by Algolia.

API (hn.algolia.com/api): GET https://hn.algolia.com/api/v1/search_by_date with ``query``, ``tags``
(``(story,comment)``: stories or comments), ``numericFilters`` on ``created_at_i`` (Unix seconds) and
``page``/``hitsPerPage``; the answer carries ``hits``, ``nbHits``, ``nbPages``, ``page``. No key.

Algolia serves at most 1000 hits per query however it is paged, so the connector slices time: it asks
for the whole window ``[since, now)`` first and, while a window holds more than 1000 hits, halves it
and asks again; then it pages through the window and moves on to the next one. Each configured search
term is its own stream, with its own cursor.

Incremental: after a sync the cursor is the sync's end time minus an hour (Algolia indexes new items a
little late; the re-read hour upserts unchanged). Rate limit: 10,000 requests an hour per IP; a 429 or
5xx is retried with backoff (Algolia sends no reset header here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, html_to_text, resolve_products, utc, with_product
from productops.signals.pii import respondent_hash

SEARCH = "https://hn.algolia.com/api/v1/search_by_date"
HIT_CAP = 1000  # Algolia's paginationLimitedTo on the HN index
OVERLAP = 3600  # seconds re-read at the start of the next sync, for Algolia's indexing lag
TAGS = {"both": "(story,comment)", "story": "story", "comment": "comment"}


def _now() -> float:
    return time.time()


class HackerNewsConfigForm(forms.Form):
    terms = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One search term per line, e.g. your product\'s name. Use quotes for a phrase: "acme app".',
    )
    kinds = forms.ChoiceField(
        choices=[("both", "Stories and comments"), ("story", "Stories only"), ("comment", "Comments only")],
        initial="both",
    )
    start_date = forms.DateField(help_text="The first sync reads mentions posted on or after this day (UTC).")
    hits_per_page = forms.IntegerField(min_value=1, max_value=1000, initial=100, required=False)
    product_map = ProductMapField(
        help_text=(
            'Search term -> product slug, e.g. {"acme": "acme-app"}. Unmapped terms give the connection\'s '
            "product. No token is needed: the HN Search API is public."
        )
    )


def terms_of(config: dict[str, Any]) -> list[str]:
    raw = config.get("terms") or ""
    items = raw if isinstance(raw, list) else str(raw).splitlines()
    return [t.strip() for t in items if t and t.strip()]


@register
class HackerNewsConnector(Connector):
    kind = "hackernews"
    label = "Hacker News (Algolia)"
    family = "mentions"
    description = (
        "Stories and comments on Hacker News that mention your search terms: title, text, link, points "
        "and a hashed author, from the HN Search API."
    )
    docs_url = "https://hn.algolia.com/api"
    config_form = HackerNewsConfigForm
    secret_fields = ()

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("X-RateLimit-Reset",))
        return self._client

    def check(self) -> CheckResult:
        terms = terms_of(self.config)
        if not terms:
            return CheckResult(False, "Add at least one search term.")
        try:
            payload = self._search(terms[0], 0, int(_now()), 0, hits=1)
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(
            True, f"Connected: HN has {payload.get('nbHits', 0)} item(s) matching {terms[0]!r}."
        )

    def streams(self) -> list[str]:
        return [f"term:{t}" for t in terms_of(self.config)]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        term = stream.removeprefix("term:")
        product = resolve_products(self.config.get("product_map")).get(term)
        state = dict(cursor) if isinstance(cursor, dict) else {}
        end = int(state.get("end") or _now())
        lo = int(state.get("since", self._start()))
        hi = state.get("hi")
        page = int(state.get("page", 0))
        per_page = int(self.config.get("hits_per_page") or 100)
        while True:
            hi = int(hi) if hi else end
            payload = self._search(term, lo, hi, page, hits=per_page)
            if page == 0 and int(payload.get("nbHits") or 0) > HIT_CAP and hi - lo > 1:
                hi = lo + (hi - lo) // 2  # too many hits to page through: a narrower window
                continue
            records = [self._record(hit, product) for hit in payload.get("hits") or []]
            if page + 1 < int(payload.get("nbPages") or 0):
                page += 1
                yield Page(records, {"since": lo, "hi": hi, "page": page, "end": end})
                continue
            lo, hi, page = hi, None, 0
            if lo >= end:
                yield Page(records, {"since": max(self._start(), end - OVERLAP)}, done=True)
                return
            yield Page(records, {"since": lo, "end": end})

    def _start(self) -> int:
        start = self.config.get("start_date")
        return int(datetime.fromisoformat(str(start)).replace(tzinfo=UTC).timestamp()) if start else 0

    def _search(self, term: str, lo: int, hi: int, page: int, *, hits: int) -> Any:
        params = {
            "query": term,
            "tags": TAGS.get(self.config.get("kinds") or "both", TAGS["both"]),
            "numericFilters": f"created_at_i>={lo},created_at_i<{hi}",
            "page": page,
            "hitsPerPage": hits,
        }
        payload = self.client.get_json(SEARCH, params=params)
        if not isinstance(payload, dict) or not isinstance(payload.get("hits"), list):
            raise ConnectorError("The HN Search API sent an answer without a hits list.")
        return payload

    def _record(self, hit: dict[str, Any], product: int | None) -> Record:
        object_id = str(hit["objectID"])
        is_comment = "comment" in (hit.get("_tags") or []) or hit.get("comment_text") is not None
        raw = hit.get("comment_text") if is_comment else hit.get("story_text")
        title = hit.get("title") or hit.get("story_title") or ""
        item_url = f"https://news.ycombinator.com/item?id={object_id}"
        author = hit.get("author") or ""
        values: dict[str, Any] = {
            "platform": "hackernews",
            "url": (item_url if is_comment else hit.get("url") or item_url)[:1000],
            "title": title[:500],
            "text": html_to_text(raw),
            "author_hash": respondent_hash(f"hackernews:{author}") if author else "",
            "posted_at": utc(hit.get("created_at_i") or hit.get("created_at")),
            "score": int(hit.get("points") or 0),
        }
        return Record("signals.Mention", f"hn:{object_id}", with_product(values, product))
