"""The factor editor of one opportunity: each RICE factor may be set by hand or left to the computed value."""

from __future__ import annotations

from typing import Any

from django import forms


class FactorsForm(forms.Form):
    target = forms.CharField(widget=forms.HiddenInput, max_length=40)
    reach = forms.FloatField(required=False, min_value=0, help_text="Customers reached")
    impact = forms.FloatField(required=False, min_value=0, max_value=10, help_text="0.25 minimal … 3 massive")
    confidence = forms.FloatField(required=False, min_value=0, max_value=1, help_text="0 to 1")
    effort = forms.FloatField(required=False, min_value=0.1, help_text="Story points")
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    reset = forms.BooleanField(required=False)

    def __init__(self, *args: Any, opportunity: Any = None, **kwargs: Any) -> None:
        if opportunity is not None:
            kwargs.setdefault(
                "initial",
                {
                    "target": opportunity.key,
                    **{n: f.override for n, f in opportunity.factors.items()},
                    "note": opportunity.note,
                },
            )
        super().__init__(*args, **kwargs)
        if opportunity is not None:
            for name, factor in opportunity.factors.items():
                self.fields[name].widget.attrs["placeholder"] = (
                    "" if factor.computed is None else f"{factor.computed:g}"
                )
