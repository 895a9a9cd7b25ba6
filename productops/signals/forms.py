from __future__ import annotations

from typing import Any

from django import forms

from productops.portfolio.models import Product

from .csv_import import KIND_CHOICES, CsvImportError, check_size, get_kind


class UploadForm(forms.Form):
    kind = forms.ChoiceField(choices=KIND_CHOICES, label="What the file holds")
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(),
        required=False,
        empty_label="No product",
        help_text="The product every row belongs to (metric points: whose metric).",
    )
    file = forms.FileField(label="CSV file", help_text="UTF-8 or Latin-1, comma- or semicolon-separated.")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        try:
            check_size(upload.size)
        except CsvImportError as exc:
            raise forms.ValidationError(exc.message) from None
        return upload


class MappingForm(forms.Form):
    """One select per field of the kind, offering the file's columns; prefilled with the suggestion."""

    save_mapping = forms.BooleanField(
        required=False, initial=True, label="Remember this mapping for next time"
    )

    def __init__(self, *args: Any, kind: str, headers: list[str], suggested: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kind = get_kind(kind)
        choices = [("", "(not in this file)"), *((h, h) for h in headers)]
        for target in self.kind.targets:
            self.fields[f"map_{target.name}"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=f"{target.label}{' (required)' if target.required else ''}",
                initial=suggested.get(target.name, ""),
            )
        self.order_fields([f"map_{t.name}" for t in self.kind.targets] + ["save_mapping"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for target in self.kind.targets:
            if target.required and not cleaned.get(f"map_{target.name}"):
                self.add_error(f"map_{target.name}", f"Pick the column that holds {target.label.lower()}.")
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {t.name: c for t in self.kind.targets if (c := self.cleaned_data.get(f"map_{t.name}"))}
