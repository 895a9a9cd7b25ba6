"""The one filter parser: every page reads its query string here, once, into a `Filters` object.

One set of names everywhere (pages, chart drill-downs, digest links, CSV export):

    product=<slug>  team=<slug>  range=7d|30d|90d|180d|365d|all  from=YYYY-MM-DD  to=YYYY-MM-DD

(`start`/`end` are still read, as old names of `from`/`to`, so bookmarked links keep working.) A page
declares any further parameters it takes as `Param`s (a choice, a bounded integer, short text, a day, a
segment...). Every value is validated: control characters, impossible or implausible dates, Unicode
digits, over-long text and ORM-looking segment keys are ignored with a message shown on the page, never
passed to a query, so no query string can raise a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from productops.portfolio.models import Product, Team

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "180d": 180, "365d": 365}
DEFAULT_PRESET = "90d"
# "All time": pages about feedback default to it; drill-down links from them carry it.
ALL_TIME = "all"
CUSTOM = "custom"
ALL_TIME_START = date(2000, 1, 1)
# Dates outside this window are typos or sentinels (0001-01-01, 9999-12-31), not a range to query.
EARLIEST = date(1990, 1, 1)
LATEST_YEARS_AHEAD = 5
MAX_VALUE_LENGTH = 200

_ASCII_INT = re.compile(r"[0-9]{1,10}", re.ASCII)
_ISO_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}", re.ASCII)
# A segment key names one key of a JSON column; "__" would let it reach into Django lookups.
_SEGMENT_KEY = re.compile(r"[A-Za-z0-9]+(_[A-Za-z0-9]+)*", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadParam(ValueError):
    """A query parameter's value we will not use; the message says why, for the page."""


@dataclass(frozen=True)
class Param:
    """Short free text (a tag, a variant, a search)."""

    max_length: int = MAX_VALUE_LENGTH
    multi: bool = False
    allow_empty: bool = False  # an empty value means something (e.g. dimension_key= : the total)

    def clean(self, raw: str) -> str:
        if len(raw) > self.max_length:
            raise BadParam(f"is longer than {self.max_length} characters")
        return raw


@dataclass(frozen=True)
class Choice(Param):
    values: tuple[str, ...] = ()

    def clean(self, raw: str) -> str:
        if raw not in self.values:
            raise BadParam(f"is not one of {', '.join(self.values)}")
        return raw


@dataclass(frozen=True)
class Int(Param):
    low: int = 0
    high: int = 2**31 - 1

    def clean(self, raw: str) -> str:
        if not _ASCII_INT.fullmatch(raw) or not self.low <= int(raw) <= self.high:
            raise BadParam(f"is not a whole number from {self.low} to {self.high}")
        return str(int(raw))


@dataclass(frozen=True)
class Day(Param):
    def clean(self, raw: str) -> str:
        return parse_day(raw).isoformat()


@dataclass(frozen=True)
class Segment(Param):
    """`key:value` over a JSON segment column (plan, country...)."""

    def clean(self, raw: str) -> str:
        key, sep, value = raw.partition(":")
        if not sep or not value or not _SEGMENT_KEY.fullmatch(key) or len(raw) > self.max_length:
            raise BadParam("is not a segment like plan:pro")
        return raw


@dataclass(frozen=True)
class Sort(Param):
    """A column path, optionally descending (`-ts`); the page checks it is one of its columns."""

    def clean(self, raw: str) -> str:
        if not re.fullmatch(r"-?[a-z][a-z0-9_]{0,80}", raw, re.ASCII):
            raise BadParam("is not a column to sort by")
        return raw


def latest_plausible() -> date:
    """The last day a real row can carry: a few years ahead covers planned dates, not sentinels."""
    return timezone.localdate().replace(month=1, day=1) + timedelta(days=366 * LATEST_YEARS_AHEAD)


def parse_day(raw: str) -> date:
    """An ISO day (YYYY-MM-DD) within a plausible window; BadParam says what is wrong."""
    m = _ISO_DAY.fullmatch(raw)
    if not m:
        raise BadParam("is not a date like 2026-01-31")
    try:
        value = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise BadParam("is not a real date") from None
    latest = latest_plausible()
    if not EARLIEST <= value <= latest:
        raise BadParam(f"is outside {EARLIEST.year}–{latest.year}")
    return value


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

    @property
    def all_time(self) -> bool:
        return self.preset == ALL_TIME

    @property
    def since(self) -> date | None:
        """The first day, or None for all time (pages over all history need no lower bound)."""
        return None if self.all_time else self.start

    @property
    def until(self) -> date | None:
        return None if self.all_time else self.end

    def window(self, field_name: str, *, dates: bool = False) -> Q:
        """The date range as a Q over a datetime (or, with dates=True, a date) column: half-open bounds
        an index can use. All time is the plausible window, so a row dated 9999-12-28 by a source's bug
        cannot stretch a weekly series over eight thousand years."""
        first, last = (EARLIEST, latest_plausible()) if self.all_time else (self.start, self.end)
        if dates:
            return Q(**{f"{field_name}__gte": first, f"{field_name}__lte": last})
        start = datetime.combine(first, time.min, tzinfo=UTC)
        end = datetime.combine(last, time.min, tzinfo=UTC) + timedelta(days=1)
        return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})

    def get(self, name: str, default: str = "") -> str:
        """The first validated value of a page parameter."""
        values = self.extra.get(name)
        return values[0] if values else default

    def ints(self, name: str) -> list[int]:
        return [int(v) for v in self.extra.get(name, []) if _ASCII_INT.fullmatch(v)]

    @property
    def segment(self) -> tuple[str, str] | None:
        key, _, value = self.get("segment").partition(":")
        return (key, value) if key and value else None

    def params(self, **overrides: Any) -> dict[str, Any]:
        """The query parameters that reproduce these filters, with overrides (None removes a key)."""
        out: dict[str, Any] = {}
        if self.product:
            out["product"] = self.product.slug
        if self.team:
            out["team"] = self.team.slug
        if self.preset == CUSTOM:
            out["from"], out["to"] = self.start.isoformat(), self.end.isoformat()
        else:
            out["range"] = self.preset
        for key, values in self.extra.items():
            if key != "page":
                out[key] = values if len(values) > 1 else values[0]
        for key, value in overrides.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def querystring(self, **overrides: Any) -> str:
        return urlencode(self.params(**overrides), doseq=True)


def parse_filters(
    request: HttpRequest | QueryDict | Mapping[str, Any],
    *,
    params: Mapping[str, Param] | None = None,
    keep: Iterable[str] = (),
    default_range: str = DEFAULT_PRESET,
) -> Filters:
    """Read the filter bar and the page's own `params` from the query string. Bad values are ignored
    with a message in `errors` (shown on the page); parameters the page does not declare are ignored."""
    q: Any = request.GET if isinstance(request, HttpRequest) else request
    declared = dict(params or {})
    declared.update({name: Param() for name in keep if name not in declared})
    errors: list[str] = []

    def first(name: str) -> str:
        raw = q.get(name) if hasattr(q, "get") else None
        if not raw:
            return ""
        raw = str(raw)
        if _CONTROL.search(raw) or len(raw) > MAX_VALUE_LENGTH:
            errors.append(f"Ignored “{name}”: it holds control characters or is too long.")
            return ""
        return raw

    product = team = None
    if slug := first("product"):
        product = Product.objects.filter(slug=slug).first() if _SLUG.fullmatch(slug) else None
        if product is None:
            errors.append(f"No product “{slug}”; showing all products.")
    if slug := first("team"):
        team = Team.objects.filter(slug=slug).first() if _SLUG.fullmatch(slug) else None
        if team is None:
            errors.append(f"No team “{slug}”; showing all teams.")

    extra: dict[str, list[str]] = {}
    for name, spec in declared.items():
        raws = q.getlist(name) if isinstance(q, QueryDict) else ([q[name]] if q.get(name) else [])
        for raw in raws if spec.multi else raws[:1]:
            raw = str(raw)
            if raw == "":
                if spec.allow_empty:
                    extra.setdefault(name, []).append("")
                continue
            if _CONTROL.search(raw):
                errors.append(f"Ignored “{name}”: it holds control characters.")
                continue
            try:
                value = spec.clean(raw)
            except BadParam as exc:
                errors.append(f"Ignored {name}=“{raw[:40]}”: it {exc}.")
            else:
                extra.setdefault(name, []).append(value)

    today = timezone.localdate()
    start_raw, end_raw = first("from") or first("start"), first("to") or first("end")
    if start_raw or end_raw:
        start = _day(start_raw, "from", errors) if start_raw else None
        end = _day(end_raw, "to", errors) if end_raw else None
        if (start_raw and start is None) or (end_raw and end is None):
            pass  # the message is in errors; fall through to the range
        elif start and end and start > end:
            errors.append("The start date is after the end date; showing the default range.")
        else:
            return Filters(product, team, start or ALL_TIME_START, end or today, CUSTOM, extra, errors)
    preset = first("range") or default_range
    if preset == ALL_TIME:
        return Filters(product, team, ALL_TIME_START, today, ALL_TIME, extra, errors)
    if preset not in PRESETS:
        errors.append(f"Unknown range “{preset[:20]}”; showing the default range.")
        preset = default_range
        if preset == ALL_TIME:
            return Filters(product, team, ALL_TIME_START, today, ALL_TIME, extra, errors)
    start = today - timedelta(days=PRESETS[preset] - 1)
    return Filters(product, team, start, today, preset, extra, errors)


def _day(raw: str, name: str, errors: list[str]) -> date | None:
    try:
        return parse_day(raw)
    except BadParam as exc:
        errors.append(f"The “{name}” date “{raw[:20]}” {exc}; showing the default range.")
        return None


def filter_bar_context(filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters,
        "filter_products": list(Product.objects.only("name", "slug")),
        "filter_teams": list(Team.objects.only("name", "slug")),
        "filter_presets": [(key, f"Last {days} days") for key, days in PRESETS.items()]
        + [(ALL_TIME, "All time")],
    }
