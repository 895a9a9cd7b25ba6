from __future__ import annotations

from typing import Any

from django import forms

from productops.accounts.widgets import TimezoneField
from productops.portfolio.models import Product, Team

from .models import DigestDefaults, Subscription


class SubscriptionForm(forms.ModelForm):
    timezone = TimezoneField(help_text="The same timezone as your profile.")
    products = forms.ModelMultipleChoiceField(
        Product.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Follow none to get everything.",
    )
    teams = forms.ModelMultipleChoiceField(
        Team.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Subscription
        fields = ["enabled", "weekday", "hour", "timezone", "only_notable", "products", "teams"]
        labels = {
            "enabled": "Send me the weekly digest",
            "only_notable": "Only when something notable happened",
        }

    def __init__(self, *args: Any, timezone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].initial = timezone


class DefaultsForm(forms.ModelForm):
    class Meta:
        model = DigestDefaults
        fields = ["enabled", "weekday", "hour", "only_notable"]


class TeamForm(forms.Form):
    team = forms.ModelChoiceField(Team.objects.all())


class MemberForm(forms.Form):
    team = forms.ModelChoiceField(Team.objects.all())
    username = forms.CharField(max_length=150)
