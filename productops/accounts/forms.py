from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation

from .models import Profile
from .roles import Role
from .widgets import TimezoneField


class ProfileForm(forms.ModelForm):
    timezone = TimezoneField(help_text="Dates and digests use this timezone.")

    class Meta:
        model = Profile
        fields = ["timezone"]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[("", "No access"), *((r.value, r.label) for r in Role)], required=False)


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in Role], initial=Role.PM.value)


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        max_length=12,
        label="Code from your authenticator app",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class AcceptInvitationForm(forms.Form):
    username = forms.CharField(max_length=150)
    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    timezone = TimezoneField(initial="UTC")

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"].strip()
        field = get_user_model()._meta.get_field("username")
        for validator in field.validators:
            validator(username)
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken; pick another.")
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            candidate = get_user_model()(username=data.get("username", ""))
            try:
                password_validation.validate_password(data["password1"], candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
