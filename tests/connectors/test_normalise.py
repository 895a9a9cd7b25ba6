"""Shared conversions for the signal connectors: UTC timestamps, HTML to text, the product mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django import forms

from connectors.base import ConnectorError
from connectors.sources.normalise import ProductMapField, html_to_text, resolve_products, slug_key, utc

from .signal_helpers import product


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1772445600, datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("1772445600", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("2026-03-02T12:00:00+02:00", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),  # naive: vendors document UTC
        (
            datetime(2026, 3, 2, 5, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        ),
        (None, None),
        ("", None),
    ],
)
def test_utc(raw: object, expected: datetime | None) -> None:
    got = utc(raw)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == timedelta(0)


def test_an_unreadable_timestamp_is_an_error_naming_it() -> None:
    with pytest.raises(ConnectorError, match="yesterday"):
        utc("yesterday")


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b></p><p>Second&nbsp;line &amp; more</p>", "Hello world\nSecond line & more"),
        ("<div>a<br>b</div><script>alert(1)</script><style>p{}</style>", "a\nb"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("plain   text\n\n  with gaps", "plain text\nwith gaps"),
        ("", ""),
        (None, ""),
    ],
)
def test_html_to_text(html: str | None, text: str) -> None:
    assert html_to_text(html) == text


def test_slug_key() -> None:
    assert (slug_key("$pageview"), slug_key("Signed Up"), slug_key("!!!")) == (
        "pageview",
        "signed-up",
        "metric",
    )


@pytest.mark.django_db
def test_product_map_field_refuses_unknown_slugs_and_resolve_gives_ids() -> None:
    app = product("billing-app")
    field = ProductMapField()
    assert field.clean('{"billing": "billing-app"}') == {"billing": "billing-app"}
    with pytest.raises(forms.ValidationError, match="No product with slug nope"):
        field.clean('{"x": "nope"}')
    with pytest.raises(forms.ValidationError):
        field.clean('["billing"]')
    assert resolve_products({"billing": "billing-app", "gone": "deleted-product", "blank": ""}) == {
        "billing": app.pk
    }
    assert resolve_products('{"billing": "billing-app"}') == {"billing": app.pk}
    assert resolve_products(None) == {}
