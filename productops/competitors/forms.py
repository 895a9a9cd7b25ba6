from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.text import slugify

from .models import BattleCardNote, Competitor

DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _split(text: str) -> list[str]:
    out: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        clean = " ".join(part.split())
        if clean and clean.lower() not in out:
            out[clean.lower()] = clean
    return list(out.values())


class CompetitorForm(forms.ModelForm):
    aliases = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Other names, comma-separated: product names, old names, common misspellings. Each is "
        "matched as a whole word, in any case (“Acme” never matches “Acmetric”).",
    )
    domains = forms.CharField(
        required=False,
        help_text="Comma-separated, e.g. acme.io, acme.com. Subdomains and links match too.",
    )

    class Meta:
        model = Competitor
        fields = ["name", "aliases", "domains"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["aliases"] = ", ".join(self.instance.aliases or [])
            self.initial["domains"] = ", ".join(self.instance.domains or [])

    def clean_name(self) -> str:
        name = " ".join(str(self.cleaned_data["name"]).split())
        if len(name) < 2:
            raise forms.ValidationError("A name needs at least two characters, or it would match everywhere.")
        return name

    def clean_aliases(self) -> list[str]:
        aliases = _split(self.cleaned_data.get("aliases", ""))
        short = [a for a in aliases if len(a) < 2]
        if short:
            raise forms.ValidationError(f"Aliases need at least two characters: {', '.join(short)}.")
        return aliases

    def clean_domains(self) -> list[str]:
        domains = []
        for d in _split(self.cleaned_data.get("domains", "")):
            clean = d.lower().removeprefix("https://").removeprefix("http://").strip("/").removeprefix("www.")
            if not DOMAIN.match(clean):
                raise forms.ValidationError(f"“{d}” is not a domain; write it like acme.io.")
            domains.append(clean)
        return domains

    def save(self, commit: bool = True) -> Competitor:
        competitor: Competitor = super().save(commit=False)
        competitor.aliases = self.cleaned_data["aliases"]
        competitor.domains = self.cleaned_data["domains"]
        if not competitor.slug:
            base = slugify(competitor.name)[:70] or "competitor"
            if base == "manage":  # /competitors/manage/ is the configuration page
                base = "manage-competitor"
            slug, n = base, 2
            while Competitor.objects.filter(slug=slug).exclude(pk=competitor.pk).exists():
                slug, n = f"{base}-{n}", n + 1
            competitor.slug = slug
        if commit:
            competitor.save()
        return competitor


class BattleCardNoteForm(forms.ModelForm):
    class Meta:
        model = BattleCardNote
        fields = ["text", "noted_on"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "noted_on": forms.DateInput(attrs={"type": "date"}),
        }
        labels = {"text": "Note", "noted_on": "Date"}
        help_texts = {"text": "Pricing, positioning, a deal won or lost against them, how to answer them."}
