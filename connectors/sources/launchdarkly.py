"""LaunchDarkly: the feature flags of one project and environment, and their change history.

API (https://launchdarkly.com/docs/api), authenticated by an access token sent as the raw ``Authorization``
header, with ``LD-API-Version`` pinned:
  - flags: GET /api/v2/flags/{projectKey}?env={environmentKey}&summary=0&limit=100, paged by
    ``_links.next.href`` (offset-based); each flag's ``environments.{env}`` holds ``on``,
    ``fallthrough`` (a variation or a percentage ``rollout``, weights in thousandths of a percent),
    ``offVariation`` and ``lastModified`` (Unix ms). The list has no "changed since" filter, so every
    sync re-lists the flags (one request per 100) and the upsert rewrites only the flags that changed.
  - change history: GET /api/v2/auditlog?spec=proj/{p}:env/{e}:flag/*&after={ms}&limit=20, newest
    first, paged backwards by ``_links.next.href``; ``after`` is the newest entry seen by the last sync,
    so a sync asks only for what changed since. Each entry becomes a FlagChange under its flag.
Rate limits: a 429 carries ``X-Ratelimit-Reset`` (Unix ms), which the HTTP client waits for.

Docs: https://launchdarkly.com/docs/api/feature-flags/get-feature-flags,
https://launchdarkly.com/docs/api/audit-log/get-audit-log-entries,
https://launchdarkly.com/docs/api#rate-limiting
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from django import forms

from connectors.base import CheckResult, Connector, ConnectorError, Page, Record, register
from connectors.http import HttpClient
from connectors.sources.normalise import ProductMapField, resolve_products, utc, with_product

BASE = "https://app.launchdarkly.com"
FLAGS, CHANGES = "flags", "changes"
API_VERSION = "20240415"
FLAG_RESOURCE = re.compile(r"(?:^|:)flag/([^;:]+)")


class LaunchDarklyConfigForm(forms.Form):
    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Organization settings > Authorization > Access tokens > Create token, with the Reader role "
            "(it starts with api-). Stored encrypted; leave blank to keep the stored one."
        ),
    )
    project_key = forms.SlugField(
        max_length=100, initial="default", help_text="The project's key, e.g. default."
    )
    environment_key = forms.SlugField(max_length=100, initial="production", help_text="e.g. production.")
    start_date = forms.DateField(
        help_text="The first sync reads flag changes made on or after this day (UTC)."
    )
    page_size = forms.IntegerField(
        min_value=1, max_value=100, initial=100, required=False, help_text="Flags per request (at most 100)."
    )
    product_map = ProductMapField(
        help_text=(
            'Flag tag -> product slug, e.g. {"checkout": "web-app"}. Flags without a mapped tag get the '
            "connection's product."
        )
    )


def _ms(value: Any) -> datetime | None:
    return utc(float(value) / 1000.0) if value not in (None, "") else None


@register
class LaunchDarklyConnector(Connector):
    kind = "launchdarkly"
    label = "LaunchDarkly"
    family = "flags"
    description = (
        "Feature flags of one project and environment (on/off, rollout percentage, last change) and their "
        "change history from the audit log."
    )
    docs_url = "https://launchdarkly.com/docs/api/audit-log/get-audit-log-entries"
    config_form = LaunchDarklyConfigForm
    secret_fields = ("access_token",)

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(reset_headers=("X-Ratelimit-Reset",))
        return self._client

    @property
    def project(self) -> str:
        return str(self.config.get("project_key") or "default")

    @property
    def env(self) -> str:
        return str(self.config.get("environment_key") or "production")

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        token = self.secrets.get("access_token", "")
        if not token:
            raise ConnectorError(
                "No LaunchDarkly access token is stored. Paste one in the connection's settings.",
                permanent=True,
            )
        headers = {"Authorization": token, "LD-API-Version": API_VERSION}
        return self.client.request("GET", url, params=params, headers=headers, expect_json=True).json()

    def _next(self, payload: dict[str, Any], current: str) -> str | None:
        href = ((payload.get("_links") or {}).get("next") or {}).get("href")
        if not href:
            return None
        following = urljoin(BASE, href)
        if not following.startswith(BASE + "/"):
            raise ConnectorError(
                "LaunchDarkly's next-page link points at another host; refusing to follow it."
            )
        return None if following == current else following

    def check(self) -> CheckResult:
        try:
            project = self._get(f"{BASE}/api/v2/projects/{self.project}")
        except ConnectorError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(
            True, f"Connected to the LaunchDarkly project {project.get('name') or self.project}."
        )

    def streams(self) -> list[str]:
        return [FLAGS, CHANGES]  # flags first: a change's flag row then exists with its full values

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        if stream == FLAGS:
            yield from self._flags(cursor)
        elif stream == CHANGES:
            yield from self._changes(cursor)
        else:
            raise ConnectorError(f"Unknown LaunchDarkly stream {stream!r}.", permanent=True)

    # -- flags

    def _flags(self, cursor: Any) -> Iterator[Page]:
        products = resolve_products(self.config.get("product_map"))
        url: str | None = cursor.get("next") if isinstance(cursor, dict) else None
        params: dict[str, Any] | None = None
        if not url:
            url = f"{BASE}/api/v2/flags/{self.project}"
            params = {"env": self.env, "summary": 0, "limit": int(self.config.get("page_size") or 100)}
        while url:
            payload = self._get(url, params)
            if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
                raise ConnectorError("LaunchDarkly sent a flag list without items.")
            records = [self._flag(flag, products) for flag in payload["items"]]
            following = self._next(payload, url)
            # After the last page the cursor resets: the next sync re-lists the flags from the start.
            yield Page(records, {"next": following} if following else None, done=following is None)
            url, params = following, None

    def _flag(self, flag: dict[str, Any], products: dict[str, int]) -> Record:
        config = (flag.get("environments") or {}).get(self.env) or {}
        on = bool(config.get("on"))
        values: dict[str, Any] = {
            "key": flag["key"],
            "name": str(flag.get("name") or "")[:300],
            "enabled": on,
            "rollout_pct": self._rollout(flag, config) if on else 0.0,
            "updated_at_source": _ms(config.get("lastModified")),
        }
        product = next((products[t] for t in flag.get("tags") or [] if t in products), None)
        return Record("signals.FeatureFlag", flag["key"], with_product(values, product))

    @staticmethod
    def _rollout(flag: dict[str, Any], config: dict[str, Any]) -> float:
        """Percent of the default (fallthrough) traffic served the "on" side: `true` for a boolean flag,
        any variation but the off variation for a multivariate one."""
        variations = flag.get("variations") or []
        off = config.get("offVariation")

        def is_on(index: Any) -> bool:
            if flag.get("kind") == "boolean" and isinstance(index, int) and 0 <= index < len(variations):
                return variations[index].get("value") is True
            return index != off

        fallthrough = config.get("fallthrough") or {}
        rollout = fallthrough.get("rollout")
        if rollout:
            weight = sum(
                v.get("weight", 0) for v in rollout.get("variations") or [] if is_on(v.get("variation"))
            )
            return round(weight / 1000.0, 3)  # weights are thousandths of a percent (100000 = 100%)
        return 100.0 if is_on(fallthrough.get("variation")) else 0.0

    # -- change history

    def _changes(self, cursor: Any) -> Iterator[Page]:
        state = dict(cursor) if isinstance(cursor, dict) else {}
        after = int(state.get("after") or self._start_ms())
        high = int(state.get("high") or after)
        url: str | None = state.get("next")
        params: dict[str, Any] | None = None
        if not url:
            url = f"{BASE}/api/v2/auditlog"
            params = {"spec": f"proj/{self.project}:env/{self.env}:flag/*", "after": after, "limit": 20}
        while url:
            payload = self._get(url, params)
            if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
                raise ConnectorError("LaunchDarkly sent an audit log page without items.")
            by_flag: dict[str, tuple[str, list[dict[str, Any]]]] = defaultdict(lambda: ("", []))
            for entry in payload["items"]:
                key = self._flag_key(entry)
                if key is None:
                    continue
                high = max(high, int(entry.get("date") or 0))
                name, changes = by_flag[key]
                by_flag[key] = (
                    name or str((entry.get("target") or {}).get("name") or entry.get("name") or ""),
                    changes,
                )
                changes.append(self._change(entry))
            records = [
                Record(
                    "signals.FeatureFlag",
                    key,
                    {"key": key, "name": name[:300]},
                    [("signals.FlagChange", rows, "flag_id")],
                )
                for key, (name, rows) in by_flag.items()
            ]
            following = self._next(payload, url)
            if following:
                yield Page(records, {"after": after, "high": high, "next": following})
            else:
                yield Page(records, {"after": high}, done=True)
            url, params = following, None

    def _start_ms(self) -> int:
        start = self.config.get("start_date")
        return int(datetime.fromisoformat(str(start)).replace(tzinfo=UTC).timestamp() * 1000) if start else 0

    def _flag_key(self, entry: dict[str, Any]) -> str | None:
        resources = list((entry.get("target") or {}).get("resources") or [])
        resources += [a.get("resource") or "" for a in entry.get("accesses") or []]
        for resource in resources:
            if f"proj/{self.project}:" not in resource:
                continue
            match = FLAG_RESOURCE.search(resource)
            if match:
                return match.group(1)
        return None

    @staticmethod
    def _change(entry: dict[str, Any]) -> dict[str, Any]:
        verb = str(entry.get("titleVerb") or "")
        text = f"{verb} {entry.get('description') or ''}".lower()
        actions = {a.get("action") for a in entry.get("accesses") or []}
        enabled: bool | None = None
        if "updateOn" in actions or "turned on" in text or "turned off" in text:
            enabled = "turned on" in text if ("turned on" in text) != ("turned off" in text) else None
        name = (entry.get("target") or {}).get("name") or entry.get("name") or ""
        # The title names the member by e-mail; the verb and the flag's name say the same without it.
        description = f"{verb} {name}".strip() or str(entry.get("shortDescription") or "")
        return {
            "external_id": str(entry["_id"]),
            "changed_at": _ms(entry.get("date")),
            "description": description[:500],
            "enabled": enabled,
            "rollout_pct": None,
        }
