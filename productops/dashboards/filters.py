"""The shared filter bar: product, team and date range, always in the query string."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date

from productops.portfolio.models import Product, Team

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "180d": 180, "365d": 365}
DEFAULT_PRESET = "90d"
# "All time": drill-down links from pages whose own filters have no date range use it.
ALL_TIME = "all"
ALL_TIME_START = date(2000, 1, 1)


@dataclass
class Filters:
    product: Product | None
    team: Team | None
    start: date
    end: date
    preset: str
    extra: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def params(self, **overrides: Any) -> dict[str, Any]:
        """The query parameters that reproduce these filters, with overrides (None removes a key)."""
        out: dict[str, Any] = {}
        if self.product:
            out["product"] = self.product.slug
        if self.team:
            out["team"] = self.team.slug
        if self.preset == "custom":
            out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        elif self.preset != DEFAULT_PRESET:
            out["range"] = self.preset
        for key, values in self.extra.items():
            out[key] = values if len(values) > 1 else values[0]
        for key, value in overrides.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def querystring(self, **overrides: Any) -> str:
        return urlencode(self.params(**overrides), doseq=True)


def parse_filters(request: HttpRequest, *, keep: tuple[str, ...] = ()) -> Filters:
    """Read the filter bar from the query string. Bad values fall back to defaults with a message."""
    q: QueryDict = request.GET
    errors: list[str] = []
    product = team = None
    if slug := q.get("product"):
        product = Product.objects.filter(slug=slug).first()
        if product is None:
            errors.append(f"No product '{slug}'; showing all products.")
    if slug := q.get("team"):
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            errors.append(f"No team '{slug}'; showing all teams.")
    today = timezone.localdate()
    preset = q.get("range", DEFAULT_PRESET)
    start_raw, end_raw = q.get("start"), q.get("end")
    if start_raw or end_raw:
        start = _parse(start_raw, errors, "start")
        end = _parse(end_raw, errors, "end") or today
        if start and start <= end:
            return Filters(product, team, start, end, "custom", _extra(q, keep), errors)
        if start and start > end:
            errors.append("The start date is after the end date; showing the default range.")
        preset = DEFAULT_PRESET
    if preset == ALL_TIME:
        return Filters(product, team, ALL_TIME_START, today, ALL_TIME, _extra(q, keep), errors)
    if preset not in PRESETS:
        errors.append(f"Unknown range '{preset}'; showing the last 90 days.")
        preset = DEFAULT_PRESET
    start = today - timedelta(days=PRESETS[preset] - 1)
    return Filters(product, team, start, today, preset, _extra(q, keep), errors)


def _parse(raw: str | None, errors: list[str], name: str) -> date | None:
    if not raw:
        return None
    try:
        value = parse_date(raw)
    except ValueError:
        value = None
    if value is None:
        errors.append(f"The {name} date '{raw}' is not a date like 2026-01-31.")
    return value


def _extra(q: QueryDict, keep: tuple[str, ...]) -> dict[str, list[str]]:
    return {key: q.getlist(key) for key in keep if q.getlist(key)}


def filter_bar_context(filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters,
        "filter_products": list(Product.objects.only("name", "slug")),
        "filter_teams": list(Team.objects.only("name", "slug")),
        "filter_presets": [(key, f"Last {days} days") for key, days in PRESETS.items()]
        + [(ALL_TIME, "All time")],
    }
