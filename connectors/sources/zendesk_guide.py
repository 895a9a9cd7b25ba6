"""Zendesk Guide (Help Center): knowledge-base articles with their votes, and search terms where available.

Articles (https://developer.zendesk.com/documentation/help_center/help-center-api/understanding-incremental-article-exports/,
https://developer.zendesk.com/api-reference/help_center/help-center-api/articles/): GET https://{subdomain}.zendesk.com/api/v2/help_center/incremental/articles
?start_time={unix seconds}, agent or admin credentials (e-mail/token Basic auth). Up to 1000 articles
a page; ``next_page`` carries a new ``start_time`` (the last change on the page), also given as
``end_time``. The saved cursor is that ``end_time``, so the next sync asks only for articles changed
since. Each article's ``vote_sum`` (up minus down) and ``vote_count`` (up plus down) give the helpful
and unhelpful votes exactly, so no per-article votes call is needed.

Search terms: Zendesk's REST API has no endpoint for Help Center search analytics; they live in
Explore's Guide search dataset (Guide Professional and Enterprise). Where the plan provides them, a
lead schedules an Explore CSV export of the report (columns Date, Search term, Searches, Searches
with no results) to a URL and pastes it here; without one the connector syncs articles only and
says so in the connection test.

Rate limits: a 429 carries Retry-After (and ``ratelimit-reset``), which the HTTP client honours.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.utils.dateparse import parse_date

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product

ARTICLES, SEARCHES = "articles", "searches"
PAGE_LIMIT = 1000  # articles per page of the incremental export; a shorter page is the last
SEARCH_COLUMNS = ("Date", "Search term", "Searches", "Searches with no results")


class ZendeskGuideConfigForm(forms.Form):
    subdomain = forms.SlugField(max_length=63, help_text="The part before .zendesk.com, e.g. acme.")
    email = forms.EmailField(help_text="The e-mail of the agent or admin the API token belongs to.")
    api_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Admin Center > Apps and integrations > APIs > Zendesk API > Add API token. Stored encrypted; "
            "leave blank to keep the stored one."
        ),
    )
    start_date = forms.DateField(
        help_text="The first sync reads articles changed on or after this day (UTC)."
    )
    product_by = forms.ChoiceField(
        choices=[("label", "Article label"), ("section", "Section id")],
        initial="label",
        help_text="What decides an article's product in the mapping below.",
    )
    product_map = ProductMapField(
        help_text='Label (or section id) -> product slug, e.g. {"billing": "billing-app", "360001234": "app"}.'
    )
    search_export_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=(
            "Optional (Guide Professional/Enterprise): the URL of a scheduled Explore CSV export of the Guide "
            "search report with the columns Date, Search term, Searches, Searches with no results. "
            "Blank: articles only."
        ),
    )


@register
class ZendeskGuideConnector(Connector):
    kind = "zendesk_guide"
    label = "Zendesk Guide"
    family = "kb"
    description = (
        "Help Center articles with their helpful and unhelpful votes, from the incremental article export; "
        "search terms and zero-result searches where your plan's Explore export provides them."
    )
    docs_url = "https://developer.zendesk.com/api-reference/help_center/help-center-api/articles/"
    config_form = ZendeskGuideConfigForm
    secret_fields = ("api_token",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("ratelimit-reset",))
        return self._client

    @property
    def base(self) -> str:
        return f"https://{self.config['subdomain']}.zendesk.com"

    def _auth(self) -> dict[str, str]:
        token = self.secrets.get("api_token", "")
        if not token:
            raise ConnectorError(
                "No Zendesk API token is stored. Paste one in the connection's settings.", permanent=True
            )
        raw = f"{self.config.get('email', '')}/token:{token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.request("GET", url, params=params, headers=self._auth(), expect_json=True).json()

    def check(self) -> CheckResult:
        try:
            me = self._get(f"{self.base}/api/v2/users/me.json")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        user = me.get("user") or {}
        if not user.get("id") or user.get("role") == "end-user":
            return CheckResult(
                False, "The incremental article export needs an agent or admin. Check the e-mail and token."
            )
        searches = (
            "search terms from the Explore export too"
            if self.config.get("search_export_url")
            else "no search-terms export configured, so articles and votes only"
        )
        return CheckResult(
            True, f"Connected to {self.config['subdomain']}.zendesk.com as {user.get('email')}; {searches}."
        )

    def streams(self) -> list[str]:
        return [ARTICLES, SEARCHES] if self.config.get("search_export_url") else [ARTICLES]

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        if stream == ARTICLES:
            yield from self._articles(cursor)
        elif stream == SEARCHES:
            yield from self._searches()
        else:
            raise ConnectorError(f"Unknown Zendesk Guide stream {stream!r}.", permanent=True)

    # -- articles

    def _articles(self, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        start = (
            int(cursor["start_time"])
            if isinstance(cursor, dict) and cursor.get("start_time")
            else self._start()
        )
        url = f"{self.base}/api/v2/help_center/incremental/articles"
        while True:
            payload = self._get(url, {"start_time": start})
            if not isinstance(payload, dict) or not isinstance(payload.get("articles"), list):
                raise ConnectorError("Zendesk sent an article export page without an articles list.")
            articles = payload["articles"]
            records = [self._record(a, products) for a in articles]
            end = int(payload.get("end_time") or start)
            following = _start_time_of(payload.get("next_page"))
            done = not articles or len(articles) < PAGE_LIMIT or following is None or following <= start
            yield Page(records, {"start_time": max(end, start)}, done=done)
            if done:
                return
            start = following  # type: ignore[assignment]  # not None: checked in `done`

    def _start(self) -> int:
        start = self.config.get("start_date")
        return int(datetime.fromisoformat(str(start)).replace(tzinfo=UTC).timestamp()) if start else 0

    def _record(self, article: dict[str, Any], products: dict[str, int]) -> Record:
        count = int(article.get("vote_count") or 0)
        total = int(article.get("vote_sum") or 0)
        if self.config.get("product_by") == "section":
            product = products.get(str(article.get("section_id")))
        else:
            product = next((products[x] for x in article.get("label_names") or [] if x in products), None)
        values: dict[str, Any] = {
            "title": str(article.get("title") or "")[:500],
            "url": str(article.get("html_url") or "")[:1000],
            "helpful_votes": (count + total) // 2,
            "unhelpful_votes": (count - total) // 2,
            "updated_at_source": utc(article.get("edited_at") or article.get("updated_at")),
        }
        return Record("signals.KbArticle", str(article["id"]), with_product(values, product))

    # -- search terms (optional)

    def _searches(self) -> Iterator[Page]:
        url = str(self.config["search_export_url"])
        response = self.client.request("GET", url, headers={"Accept": "text/csv"})
        try:
            text = response.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConnectorError(
                "The search-terms export is not UTF-8 CSV. Export it as CSV.", permanent=True
            ) from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in SEARCH_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConnectorError(
                f"The search-terms export lacks the column(s) {', '.join(missing)}. Add them to the Explore report.",
                permanent=True,
            )
        totals: dict[tuple[str, str], list[int]] = {}
        for number, row in enumerate(reader, start=2):
            day = parse_date((row["Date"] or "").strip())
            term = " ".join((row["Search term"] or "").split()).lower()[:300]
            if day is None or not term:
                raise ConnectorError(
                    f"Line {number} of the search-terms export has no date or term.", permanent=True
                )
            bucket = totals.setdefault((day.isoformat(), term), [0, 0])
            bucket[0] += _int(row["Searches"])
            bucket[1] += _int(row["Searches with no results"])
        records = [
            Record(
                "signals.KbSearch",
                f"{day}:{term}"[:255],
                {"term": term, "date": day, "searches": searches, "no_result_searches": empty},
            )
            for (day, term), (searches, empty) in sorted(totals.items())
        ]
        # The export is a full report each time; the upsert keeps unchanged days unchanged.
        yield Page(records, None, done=True)


def _int(value: Any) -> int:
    try:
        return int(float(str(value or "0").replace(",", "")))
    except ValueError:
        raise ConnectorError(
            f"The search-terms export has a non-number count {str(value)[:20]!r}.", permanent=True
        ) from None


def _start_time_of(next_page: Any) -> int | None:
    if not next_page:
        return None
    values = parse_qs(urlsplit(str(next_page)).query).get("start_time")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None
