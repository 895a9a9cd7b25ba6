"""Turning vendor values into the signals models' types, shared by the signal-tool connectors.

- timestamps: epoch seconds or ISO 8601 (with or without a zone) -> aware UTC datetimes;
- HTML -> plain text for analysis (the raw text is kept beside it);
- the product mapping a lead types into a connection's settings ("billing" -> the Billing product),
  validated by `ProductMapField` and resolved to primary keys once per sync by `resolve_products`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any

from django import forms
from django.utils.dateparse import parse_datetime

from connectors.base import ConnectorError

# --- Time -----------------------------------------------------------------------------------------


def utc(value: Any) -> datetime | None:
    """An aware UTC datetime from epoch seconds (int/float/digit string) or ISO 8601; None if empty.

    A naive ISO value is taken as UTC: every vendor here documents its timestamps in UTC.
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    parsed = parse_datetime(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if parsed is None:
        raise ConnectorError(f"The source sent an unreadable timestamp {text[:40]!r}.", permanent=False)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def day_start(day: date) -> datetime:
    """Midnight UTC of a day: the timestamp of a daily metric point."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def days(start: date, end: date) -> list[date]:
    """Every day from start to end, inclusive."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


# --- Text -----------------------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: str | None) -> str:
    """Plain text from HTML (or from text that merely contains entities): tags dropped, entities
    decoded, runs of spaces collapsed, paragraph breaks kept as single newlines."""
    if not value:
        return ""
    if "<" not in value:
        text = html.unescape(value)
    else:
        parser = _TextExtractor()
        parser.feed(value)
        parser.close()
        text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


# --- Product mapping ------------------------------------------------------------------------------


class ProductMapField(forms.JSONField):
    """A JSON object of source value -> product slug, e.g. {"billing": "billing", "360000123": "app"}.

    Unknown slugs are refused with the list of known ones, so a typo can't silently drop the mapping.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("initial", dict)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> dict[str, str]:
        data = super().clean(value)
        if data in (None, ""):
            return {}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise forms.ValidationError(
                'Give an object of source value -> product slug, e.g. {"billing": "app"}.'
            )
        from productops.portfolio.models import Product

        known = set(Product.objects.values_list("slug", flat=True))
        unknown = sorted(set(data.values()) - known)
        if unknown:
            raise forms.ValidationError(
                f"No product with slug {', '.join(unknown)}. Known products: {', '.join(sorted(known)) or 'none yet'}."
            )
        return {str(k): v for k, v in data.items()}


def resolve_products(mapping: Mapping[str, str] | str | None) -> dict[str, int]:
    """Source value -> product id, one query; slugs that no longer exist are left out (the row then
    falls back to the connection's own product)."""
    parsed: Mapping[str, Any] = json.loads(mapping or "{}") if isinstance(mapping, str) else (mapping or {})
    wanted: dict[str, str] = {str(k): str(v) for k, v in parsed.items() if v}
    if not wanted:
        return {}
    from productops.portfolio.models import Product

    ids = dict(Product.objects.filter(slug__in=set(wanted.values())).values_list("slug", "pk"))
    return {value: ids[slug] for value, slug in wanted.items() if slug in ids}


def with_product(values: dict[str, Any], product_id: int | None) -> dict[str, Any]:
    """Set product_id only when the mapping found one, so the connection's product stays the default."""
    if product_id is not None:
        values["product_id"] = product_id
    return values


def slug_key(*parts: str) -> str:
    """A metric key (SlugField) from vendor names such as "Signed Up" or "$pageview"."""
    text = "-".join(p for p in parts if p)
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")
    return slug[:200] or "metric"


def web_url(value: Any) -> str:
    """A vendor's link to a row, kept only when it is an http(s) URL (a page renders it as a link)."""
    text = str(value or "").strip()
    return text[:1000] if text.lower().startswith(("https://", "http://")) else ""
