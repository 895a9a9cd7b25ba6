from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model

from productops.portfolio.models import Product, Team

from .models import Highlight, Study, StudyNote
from .permissions import editable_product_ids

DATE = forms.DateInput(attrs={"type": "date"})


class TagsField(forms.CharField):
    """Tags typed as "onboarding, invites"; stored as a list."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(map(str, value)) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        seen: dict[str, str] = {}
        for tag in text.split(","):
            clean = " ".join(tag.split())[:60]
            if clean and clean.lower() not in seen:
                seen[clean.lower()] = clean
        return list(seen.values())


class StudyForm(forms.ModelForm):
    tags = TagsField(required=False, help_text="Comma-separated, e.g. onboarding, invites.")
    url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=1000,
        help_text="Where the study lives (a Dovetail project, a doc).",
    )

    class Meta:
        model = Study
        fields = [
            "title",
            "question",
            "method",
            "started_on",
            "ended_on",
            "participants",
            "owner",
            "product",
            "team",
            "tags",
            "url",
        ]
        widgets = {"started_on": DATE, "ended_on": DATE, "question": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = editable_product_ids(user)
        products = Product.objects.all()
        if allowed is not None:
            products = products.filter(pk__in=allowed)
            self.fields["product"].required = True
        cast(forms.ModelChoiceField, self.fields["product"]).queryset = products
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = Team.objects.all()
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = (
            get_user_model().objects.filter(is_active=True).order_by("username")
        )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        start, end = data.get("started_on"), data.get("ended_on")
        if start and end and end < start:
            self.add_error("ended_on", "The study ends before it starts.")
        return data


class HighlightForm(forms.ModelForm):
    tags = TagsField(required=False, help_text="Comma-separated.")

    class Meta:
        model = Highlight
        fields = ["quote", "segment", "tags"]
        widgets = {"quote": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"segment": "Who said it: their segment or plan, e.g. SMB admin."}


class NoteForm(forms.ModelForm):
    class Meta:
        model = StudyNote
        fields = ["title", "text", "segment"]
        widgets = {"text": forms.Textarea(attrs={"rows": 4})}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".md,.markdown,text/markdown"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)] if data else []


class ImportForm(forms.Form):
    csv_file = forms.FileField(required=False, label="CSV file", help_text="One row per highlight.")
    markdown_files = MultipleFileField(
        required=False, label="Markdown files", help_text="One file per study, with front matter."
    )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if not data.get("csv_file") and not data.get("markdown_files"):
            raise forms.ValidationError("Choose a CSV file or one or more Markdown files to import.")
        return data
