"""A select for long, fixed option lists (the ~600 IANA timezones), rendered in Python.

Django renders a Select by including one template per option; for the timezone list that is about
60 ms per field, and the settings page shows two of them. `PlainSelect` builds the same markup from the
same widget context (`get_context`, so attributes, the selected option and optgroups behave exactly as
Django's) escaping every value as Django's templates do.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict[str, Any]) -> str:
    """An option's attributes as Django's attrs.html writes them: True bare, False/None left out."""
    if not attrs:
        return ""
    out = []
    for key, val in attrs.items():
        if val is True:
            out.append(f" {escape(key)}")
        elif val is not False and val is not None:
            out.append(f' {escape(key)}="{escape(val)}"')
    return "".join(out)


class PlainSelect(forms.Select):
    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts: list[str] = [format_html('<select name="{}"{}>', widget["name"], flatatt(widget["attrs"]))]
        for group_name, options, _index in widget["optgroups"]:
            rendered = "".join(
                f'<option value="{escape(str(o["value"]))}"{_attrs(o["attrs"])}>{escape(o["label"])}</option>'
                for o in options
            )
            if group_name:
                parts.append(f'<optgroup label="{escape(group_name)}">{rendered}</optgroup>')
            else:
                parts.append(rendered)
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


class TimezoneField(forms.ChoiceField):
    """A choice of IANA timezone, rendered with `PlainSelect`."""

    widget = PlainSelect

    def __init__(self, **kwargs: Any) -> None:
        from .models import timezone_choices

        kwargs.setdefault("choices", timezone_choices)
        super().__init__(**kwargs)
