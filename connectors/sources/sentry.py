"""Sentry (sentry.io or self-hosted): error events per day per project, issues, and releases with their
deploys and crash-free rates, from the web API with an auth token (Bearer).

Streams, in this order so a release is stored before the errors that follow it:

- releases: GET /api/0/organizations/{org}/releases/?project=<id>... (newest first); one Release per
  (project, version), released at its last deploy's ``dateFinished``, else ``dateReleased``, else
  ``dateCreated``. Crash-free session and user rates come from the release-health endpoint
  GET /api/0/organizations/{org}/sessions/?field=crash_free_rate(session)&field=crash_free_rate(user)
  &groupBy=project&groupBy=release; an organisation without session data leaves them empty.
  Incremental: the list is read until releases created more than ``RELEASE_LOOKBACK`` before the last
  sync, so deploys and health added to recent releases are picked up.
- events: GET /api/0/organizations/{org}/stats_v2/?field=sum(quantity)&category=error&outcome=accepted
  &groupBy=outcome&interval=1d&project=<id>, once per project (grouping by project gives totals only,
  no series): a metric "Error events · <project>" per project, good direction down, so the anomaly
  detector sees a spike after a bad release. Incremental by day, re-reading ``lookback_days``; Sentry
  keeps 90 days of stats.
- issues: GET /api/0/organizations/{org}/issues/?query=&sort=date&start=&end=&project=<id>...: every
  issue with events since the last sync (``query=`` with no ``is:unresolved`` so resolved ones update
  too), with first/last seen, level, status, substatus (new, regressed, ongoing...) and first release.

Pagination: the Link header, whose rel="next" part carries ``results="true"`` while there is more
(Sentry always sends a next cursor, even on the last page) and ``cursor="..."``.
Rate limits: every response carries X-Sentry-Rate-Limit-Limit/-Remaining/-Reset (epoch seconds) and
-ConcurrentLimit/-ConcurrentRemaining; a 429 is retried at the reset. Error bodies are ``{"detail": ...}``.
Docs: https://docs.sentry.io/api/ (auth https://docs.sentry.io/api/auth/, pagination
https://docs.sentry.io/api/pagination/, rate limits https://docs.sentry.io/api/ratelimits/, stats
https://docs.sentry.io/api/organizations/retrieve-event-counts-for-an-organization-v2/, issues
https://docs.sentry.io/api/events/list-an-organizations-issues/, releases
https://docs.sentry.io/api/releases/list-an-organizations-releases/, release health
https://docs.sentry.io/api/releases/retrieve-release-health-session-statistics/).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.utils import timezone

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import (
    ProductMapField,
    day_start,
    resolve_products,
    slug_key,
    utc,
    web_url,
    with_product,
)

log = logging.getLogger(__name__)

STREAMS = ["releases", "events", "issues"]
STATS_RETENTION_DAYS = 90
RELEASE_LOOKBACK = timedelta(days=14)
ISSUE_OVERLAP = timedelta(hours=1)
RATE_FIELDS = ("crash_free_rate(session)", "crash_free_rate(user)")


class SentryConfigForm(forms.Form):
    base_url = forms.URLField(
        assume_scheme="https",
        initial="https://sentry.io",
        help_text=(
            "https://sentry.io (or your region, https://us.sentry.io / https://de.sentry.io), or your "
            "self-hosted Sentry's address. A private address must be allowed in CONNECTOR_ALLOWED_NETWORKS."
        ),
    )
    organization = forms.SlugField(
        help_text="The organization slug, as in https://sentry.io/organizations/<slug>/."
    )
    auth_token = forms.CharField(
        required=False,
        help_text=(
            "Settings > Developer Settings > Personal Tokens (or an internal integration's token) with "
            "org:read, project:read, project:releases and event:read. Stored encrypted; leave blank to keep "
            "the stored one."
        ),
    )
    projects = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Comma-separated project slugs, e.g. web-frontend, api. Blank: every project you can see.",
    )
    product_map = ProductMapField(
        help_text=(
            'Sentry project slug -> product slug, e.g. {"web-frontend": "pulse"}. Other projects get the '
            "connection's product."
        )
    )
    environment = forms.CharField(
        required=False, max_length=64, help_text="Only this environment, e.g. production. Blank: all."
    )
    start_date = forms.DateField(
        help_text="The first sync reads from this day (Sentry keeps 90 days of event counts)."
    )
    lookback_days = forms.IntegerField(min_value=0, max_value=14, initial=2, required=False)


@register
class SentryConnector(Connector):
    kind = "sentry"
    label = "Sentry"
    family = "monitoring"
    also_fills = ("metrics",)
    description = (
        "Error events per day per project (as a metric anomalies watch), new and regressed issues, and "
        "releases with their deploy time and crash-free session and user rates; sentry.io or self-hosted."
    )
    docs_url = "https://docs.sentry.io/api/"
    config_form = SentryConfigForm
    secret_fields = ("auth_token",)

    _projects: list[dict[str, Any]] | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("X-Sentry-Rate-Limit-Reset",))
        return self._client

    @property
    def api(self) -> str:
        return f"{str(self.config.get('base_url') or 'https://sentry.io').rstrip('/')}/api/0"

    @property
    def org(self) -> str:
        return f"{self.api}/organizations/{self.config['organization']}"

    def _headers(self) -> dict[str, str]:
        token = self.secrets.get("auth_token", "")
        if not token:
            raise ConnectorError(
                "No Sentry auth token is stored. Paste one in the connection's settings.", permanent=True
            )
        return {"Authorization": f"Bearer {token}"}

    def _get(self, url: str, params: Any = None) -> Any:
        return self.client.request("GET", url, params=params, headers=self._headers(), expect_json=True)

    def _pages(
        self, url: str, params: Any = None, start: str | None = None
    ) -> Iterator[tuple[Any, str | None]]:
        """(payload, next page URL or None) per page, following rel="next" while results="true"."""
        next_url: str | None = start or url
        query = None if start else params
        while next_url:
            if urlsplit(next_url).netloc != urlsplit(self.api).netloc:
                raise ConnectorError(
                    f"Sentry's next-page link points at another host ({urlsplit(next_url).netloc}); refusing "
                    "to send the token there. Check the base URL in the connection's settings.",
                    permanent=True,
                )
            response = self._get(next_url, query)
            following = response.links.get("next") or {}
            more = str(following.get("results", "false")).lower() == "true" and following.get("url")
            after = str(following["url"]) if more and following.get("url") != next_url else None
            yield response.json(), after
            next_url, query = after, None

    def check(self) -> CheckResult:
        try:
            org = self._get(f"{self.org}/").json()
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"Connected to Sentry organization “{org.get('name') or org.get('slug')}”.")

    def streams(self) -> list[str]:
        return list(STREAMS)

    def cursor_for_date(self, stream: str, since: date) -> Any:
        if stream == "events":
            return {"start": since.isoformat()}
        return {"since": datetime.combine(since, time.min, tzinfo=UTC).isoformat()}

    # -- projects

    def projects(self) -> list[dict[str, Any]]:
        """The configured projects (id, slug, name), checked against the organization's."""
        if self._projects is None:
            found: list[dict[str, Any]] = []
            for payload, _ in self._pages(f"{self.org}/projects/"):
                if not isinstance(payload, list):
                    raise ConnectorError("Sentry sent a project list that is not a list.")
                found += [p for p in payload if isinstance(p, dict) and p.get("slug")]
            wanted = [s.strip() for s in str(self.config.get("projects") or "").split(",") if s.strip()]
            by_slug = {str(p["slug"]): p for p in found}
            missing = [s for s in wanted if s not in by_slug]
            if missing:
                raise ConnectorError(
                    f"Sentry has no project {', '.join(missing)} in organization {self.config['organization']} "
                    f"(or the token can't see it). Projects it can see: {', '.join(sorted(by_slug)) or 'none'}.",
                    permanent=True,
                )
            self._projects = (
                [by_slug[s] for s in wanted] if wanted else sorted(found, key=lambda p: p["slug"])
            )
        return self._projects

    def _scope(self) -> dict[str, Any]:
        params: dict[str, Any] = {"project": [str(p["id"]) for p in self.projects()]}
        if self.config.get("environment"):
            params["environment"] = self.config["environment"]
        return params

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        state = dict(cursor) if isinstance(cursor, dict) else {}
        products = resolve_products(self.config.get("product_map"))
        if stream == "releases":
            yield from self._releases(state, products)
        elif stream == "events":
            yield from self._events(state, products)
        elif stream == "issues":
            yield from self._issues(state, products)
        else:
            raise ConnectorError(f"Sentry has no stream {stream!r}.", permanent=True)

    def _first_day(self) -> date:
        return date.fromisoformat(str(self.config["start_date"]))

    # -- releases

    def _releases(self, state: dict[str, Any], products: dict[str, int]) -> Iterator[Page]:
        started = timezone.now()
        since = utc(state.get("since")) or datetime.combine(self._first_day(), time.min, tzinfo=UTC)
        oldest = since - RELEASE_LOOKBACK if state.get("since") else since
        wanted = {str(p["slug"]) for p in self.projects()}
        health = self._health()
        params = {**self._scope(), "per_page": 100}
        pages = self._pages(f"{self.org}/releases/", params, start=state.get("next"))
        for payload, following in pages:
            if not isinstance(payload, list):
                raise ConnectorError("Sentry sent a release list that is not a list.")
            records: list[Record] = []
            reached_end = following is None
            for release in payload:
                created = utc(release.get("dateCreated"))
                if created is not None and created < oldest:
                    reached_end = True
                    continue
                records += self._release_records(release, wanted, health, products)
            if reached_end:
                yield Page(records, {"since": started.isoformat()}, done=True)
                return
            yield Page(records, {"since": state.get("since"), "next": following})

    def _health(self) -> dict[tuple[str, str], dict[str, float | None]]:
        """(project id, version) -> crash-free rates; empty when the organisation has no session data."""
        params: dict[str, Any] = {
            **self._scope(),
            "field": list(RATE_FIELDS),
            "groupBy": ["project", "release"],
            "statsPeriod": f"{STATS_RETENTION_DAYS}d",
            "interval": "1d",
        }
        try:
            payload = self._get(f"{self.org}/sessions/", params).json()
        except ConnectorError as exc:
            if not exc.permanent or "HTTP 401" in exc.message:
                raise
            # Release health is optional (an organisation that never sent sessions): keep the releases.
            log.info("sentry: no release health for %s: %s", self.config.get("organization"), exc.message)
            return {}
        out: dict[tuple[str, str], dict[str, float | None]] = {}
        for group in (payload or {}).get("groups") or []:
            by, totals = group.get("by") or {}, group.get("totals") or {}
            out[(str(by.get("project")), str(by.get("release")))] = {
                "sessions": _rate(totals.get(RATE_FIELDS[0])),
                "users": _rate(totals.get(RATE_FIELDS[1])),
            }
        return out

    def _release_records(
        self,
        release: dict[str, Any],
        wanted: set[str],
        health: dict[tuple[str, str], dict[str, float | None]],
        products: dict[str, int],
    ) -> list[Record]:
        version = str(release.get("version") or "")
        if not version:
            return []
        deploy = release.get("lastDeploy") or {}
        when = (
            utc(deploy.get("dateFinished"))
            or utc(release.get("dateReleased"))
            or utc(release.get("dateCreated"))
        )
        if when is None:
            return []
        ids = {str(p["slug"]): str(p["id"]) for p in self.projects()}
        records = []
        for project in release.get("projects") or []:
            slug = str(project.get("slug") or "")
            if slug not in wanted:
                continue
            rates = health.get((ids.get(slug, ""), version), {})
            values = {
                "version": version[:250],
                "project": slug[:200],
                "environment": str(deploy.get("environment") or "")[:64],
                "released_at": when,
                "new_issues": int(project.get("newGroups") or release.get("newGroups") or 0),
                "crash_free_sessions": rates.get("sessions"),
                "crash_free_users": rates.get("users"),
                "url": web_url(release.get("url")),
            }
            records.append(
                Record("signals.Release", f"{slug}@{version}"[:255], with_product(values, products.get(slug)))
            )
        return records

    # -- error events per day

    def _events(self, state: dict[str, Any], products: dict[str, int]) -> Iterator[Page]:
        today = timezone.now().date()
        last = today - timedelta(days=1)
        start = date.fromisoformat(state["start"]) if state.get("start") else self._first_day()
        start = max(start, today - timedelta(days=STATS_RETENTION_DAYS - 1))
        lookback = int(self.config.get("lookback_days") or 0)
        resume = max(self._first_day(), last - timedelta(days=max(lookback - 1, 0)))
        projects = self.projects()
        if start > last or not projects:
            yield Page([], {"start": start.isoformat()}, done=True)
            return
        for index in range(int(state.get("project", 0)), len(projects)):
            project = projects[index]
            params: dict[str, Any] = {
                "field": "sum(quantity)",
                "groupBy": "outcome",
                "category": "error",
                "outcome": "accepted",
                "interval": "1d",
                "project": str(project["id"]),
                "start": f"{start.isoformat()}T00:00:00Z",
                "end": f"{today.isoformat()}T00:00:00Z",
            }
            if self.config.get("environment"):
                params["environment"] = self.config["environment"]
            payload = self._get(f"{self.org}/stats_v2/", params).json()
            record = self._error_metric(project, payload, start, last, products)
            done = index == len(projects) - 1
            following: dict[str, Any] = (
                {"start": resume.isoformat()} if done else {"start": start.isoformat(), "project": index + 1}
            )
            yield Page([record], following, done=done)

    def _error_metric(
        self, project: dict[str, Any], payload: Any, start: date, last: date, products: dict[str, int]
    ) -> Record:
        if not isinstance(payload, dict) or not isinstance(payload.get("intervals"), list):
            raise ConnectorError("Sentry sent event counts without intervals.")
        totals: dict[date, float] = {}
        for group in payload.get("groups") or []:
            series = (group.get("series") or {}).get("sum(quantity)") or []
            for stamp, number in zip(payload["intervals"], series, strict=False):
                when = utc(stamp)
                if when is not None and start <= when.date() <= last:
                    totals[when.date()] = totals.get(when.date(), 0.0) + float(number or 0)
        # A day Sentry reports with no group at all had no accepted errors: say 0, not "no data".
        for stamp in payload["intervals"]:
            when = utc(stamp)
            if when is not None and start <= when.date() <= last:
                totals.setdefault(when.date(), 0.0)
        slug = str(project["slug"])
        name = str(project.get("name") or slug)
        values = {
            "name": f"Error events · {name}"[:200],
            "key": slug_key("sentry-errors", slug),
            "description": f"Errors Sentry accepted per day in project “{name}”.",
            "unit": "count",
            "good_direction": "down",
            "aggregation": "sum",
            "dimensions": [],
        }
        points = [
            {"ts": day_start(day), "dimension_key": "", "dimension_value": "", "value": value}
            for day, value in sorted(totals.items())
        ]
        return Record(
            "signals.Metric",
            f"errors:{slug}",
            with_product(values, products.get(slug)),
            [("signals.MetricPoint", points, "metric")],
        )

    # -- issues

    def _issues(self, state: dict[str, Any], products: dict[str, int]) -> Iterator[Page]:
        started = timezone.now()
        since = utc(state.get("since")) or datetime.combine(self._first_day(), time.min, tzinfo=UTC)
        since = max(since, started - timedelta(days=STATS_RETENTION_DAYS - 1))
        params = {
            **self._scope(),
            "query": "",
            "sort": "date",
            "limit": 100,
            "start": since.strftime("%Y-%m-%dT%H:%M:%S"),
            "end": started.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for payload, following in self._pages(f"{self.org}/issues/", params, start=state.get("next")):
            if not isinstance(payload, list):
                raise ConnectorError("Sentry sent an issue list that is not a list.")
            records = [self._issue(issue, products) for issue in payload if issue.get("id")]
            if following is None:
                yield Page(records, {"since": (started - ISSUE_OVERLAP).isoformat()}, done=True)
                return
            yield Page(records, {"since": state.get("since") or since.isoformat(), "next": following})

    @staticmethod
    def _issue(issue: dict[str, Any], products: dict[str, int]) -> Record:
        project = issue.get("project") or {}
        slug = str(project.get("slug") or "")
        first, seen = utc(issue.get("firstSeen")), utc(issue.get("lastSeen"))
        first = first or seen or timezone.now()
        values = {
            "project": slug[:200],
            "short_id": str(issue.get("shortId") or "")[:100],
            "title": str(issue.get("title") or issue.get("culprit") or issue["id"])[:500],
            "culprit": str(issue.get("culprit") or "")[:500],
            "level": str(issue.get("level") or "")[:16],
            "status": str(issue.get("status") or "")[:32],
            "substatus": str(issue.get("substatus") or "")[:32],
            "release": str((issue.get("firstRelease") or {}).get("version") or "")[:250],
            "first_seen": first,
            "last_seen": seen or first,
            "events": int(issue.get("count") or 0),
            "users": int(issue.get("userCount") or 0),
            "url": web_url(issue.get("permalink")),
        }
        return Record("signals.ErrorIssue", str(issue["id"]), with_product(values, products.get(slug)))


def _rate(value: Any) -> float | None:
    """Sentry's crash-free rates are 0-1 (older self-hosted versions send percentages)."""
    if value is None:
        return None
    number = float(value)
    return number / 100 if number > 1 else number
