from __future__ import annotations

from django import forms

from .models import Profile, timezone_choices
from .roles import Role


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=timezone_choices, help_text="Dates and digests use this timezone.")

    class Meta:
        model = Profile
        fields = ["timezone"]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[("", "No access"), *((r.value, r.label) for r in Role)], required=False)
