"""The timezone select is rendered in Python, and must write exactly what Django's Select writes."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.test import Client
from django.test.html import parse_html

from productops.accounts.widgets import PlainSelect, TimezoneField

CHOICES: list[Any] = [
    ("", "---------"),
    ("UTC", "UTC"),
    ("Europe", [("Europe/Paris", "Paris"), ("Europe/Berlin", "Berlin")]),
    ('"><script>x</script>', "Q&A <b>"),
]


@pytest.mark.parametrize("value", ["", "UTC", "Europe/Berlin", '"><script>x</script>', "Nowhere/Else"])
@pytest.mark.parametrize(
    "attrs",
    [None, {"id": "id_tz", "required": True, "aria-describedby": "id_tz_helptext", "disabled": False}],
)
def test_same_markup_as_djangos_select(value: str, attrs: dict[str, Any] | None) -> None:
    ours = PlainSelect(choices=CHOICES).render("tz", value, attrs=attrs)
    django_s = forms.Select(choices=CHOICES).render("tz", value, attrs=attrs)
    assert parse_html(ours) == parse_html(django_s)
    assert "<script>" not in ours


def test_timezone_field_offers_every_zone_and_keeps_the_choice() -> None:
    class F(forms.Form):
        timezone = TimezoneField(initial="UTC")

    html = str(F(initial={"timezone": "Asia/Kolkata"})["timezone"])
    assert html.count("<option") > 400
    assert parse_html('<option value="Asia/Kolkata" selected>Asia/Kolkata</option>') in parse_html(html)
    assert not F({"timezone": "Mars/Olympus"}).is_valid()
    assert F({"timezone": "Europe/Paris"}).is_valid()


def test_settings_page_shows_and_saves_the_timezone(pm_user: Any) -> None:
    client = Client()
    client.force_login(pm_user)
    page = client.get("/accounts/settings/").content.decode()
    assert page.count('<option value="America/New_York"') == 2  # profile and digest forms
    client.post("/accounts/settings/", {"timezone": "America/New_York"})
    page = client.get("/accounts/settings/").content.decode()
    assert parse_html('<option value="America/New_York" selected>America/New_York</option>') in parse_html(
        page
    )
