from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model

from productops.portfolio.models import PortfolioItem, Product, Team
from productops.signals.models import Metric

from .models import KeyResult, Level, Objective
from .permissions import can_edit_scope, editable_product_ids
from .services import ALIGNABLE_KINDS

DATE = forms.DateInput(attrs={"type": "date"})


class ObjectiveForm(forms.ModelForm):
    class Meta:
        model = Objective
        fields = [
            "title",
            "description",
            "level",
            "product",
            "team",
            "parent",
            "owner",
            "period_start",
            "period_end",
        ]
        widgets = {
            "period_start": DATE,
            "period_end": DATE,
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        allowed = editable_product_ids(user)
        products = Product.objects.all()
        if allowed is not None:
            products = products.filter(pk__in=allowed)
        cast(forms.ModelChoiceField, self.fields["product"]).queryset = products
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = Team.objects.all()
        parents = Objective.objects.all()
        if self.instance.pk:
            parents = parents.exclude(pk=self.instance.pk)
        cast(forms.ModelChoiceField, self.fields["parent"]).queryset = parents
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = (
            get_user_model().objects.filter(is_active=True).order_by("username")
        )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        level, product, team = data.get("level"), data.get("product"), data.get("team")
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", "The period ends before it starts.")
        if level in (Level.PRODUCT, Level.TEAM) and product is None:
            self.add_error("product", "A product or team objective belongs to a product.")
        if level == Level.TEAM and team is None:
            self.add_error("team", "A team objective names its team.")
        if level == Level.COMPANY and (product or team):
            self.add_error("level", "A company objective has no product or team; choose the product level.")
        parent = data.get("parent")
        if parent is not None and self.instance.pk:
            seen, node = set(), parent
            while node is not None and node.pk not in seen:
                if node.pk == self.instance.pk:
                    self.add_error("parent", "An objective cannot sit under itself or its own children.")
                    break
                seen.add(node.pk)
                node = node.parent
        if not self.errors and not can_edit_scope(
            self.user, product.pk if product else None, team.pk if team else None
        ):
            raise forms.ValidationError(
                "Only the product-ops lead sets company objectives; PMs set their own products' objectives."
            )
        return data


class KeyResultForm(forms.ModelForm):
    dimension = forms.CharField(
        required=False,
        max_length=190,
        help_text="Optional, like platform:ios: the key result follows that slice of the metric.",
    )

    class Meta:
        model = KeyResult
        fields = ["title", "start_value", "target_value", "unit", "metric", "aggregation"]
        help_texts = {
            "metric": "Bind to a metric to compute progress from data; leave empty to update by hand.",
            "aggregation": "How the metric's daily values over the period make the key result's value.",
        }

    def __init__(self, *args: Any, objective: Objective, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.objective = objective
        metrics = Metric.objects.select_related("product").order_by("product__name", "name")
        if objective.product_id:
            metrics = metrics.filter(product_id=objective.product_id)
        cast(forms.ModelChoiceField, self.fields["metric"]).queryset = metrics
        self.fields["metric"].required = False
        if self.instance.pk and self.instance.dimension_key:
            self.initial["dimension"] = f"{self.instance.dimension_key}:{self.instance.dimension_value}"

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        dim = (data.get("dimension") or "").strip()
        key = value = ""
        if dim:
            key, sep, value = dim.partition(":")
            key, value = key.strip(), value.strip()
            metric = data.get("metric")
            if not sep or not key or not value:
                self.add_error("dimension", "Write it as key:value, like platform:ios.")
            elif metric is None:
                self.add_error("dimension", "A dimension needs a metric.")
            elif key not in (metric.dimensions or []):
                have = ", ".join(metric.dimensions or []) or "none"
                self.add_error("dimension", f"{metric.name} has no dimension “{key}” (it has: {have}).")
        data["dimension_key"], data["dimension_value"] = key[:64], value[:128]
        if data.get("start_value") is not None and data.get("target_value") == data.get("start_value"):
            self.add_error("target_value", "The target equals the start; there is nothing to achieve.")
        return data

    def save(self, commit: bool = True) -> KeyResult:
        kr = super().save(commit=False)
        kr.objective = self.objective
        kr.dimension_key = self.cleaned_data["dimension_key"]
        kr.dimension_value = self.cleaned_data["dimension_value"]
        if commit:
            kr.save()
        return kr


class CheckInForm(forms.Form):
    value = forms.FloatField(required=False, help_text="The key result's value now.")
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, bound_kr: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bound_kr = bound_kr
        if bound_kr:
            self.fields["value"].help_text = "Computed from the metric; a comment is enough."

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if not self.bound_kr and data.get("value") is None and not self.errors:
            self.add_error("value", "Give the current value.")
        if self.bound_kr and not (data.get("comment") or "").strip() and data.get("value") is None:
            self.add_error("comment", "Write a comment.")
        return data


class LinkForm(forms.Form):
    item = forms.ModelChoiceField(queryset=PortfolioItem.objects.none(), label="Initiative or epic")

    def __init__(self, *args: Any, kr: KeyResult, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        items = PortfolioItem.objects.filter(kind__in=ALIGNABLE_KINDS, is_gone=False).order_by("title")
        if kr.objective.product_id:
            items = items.filter(product_id=kr.objective.product_id)
        cast(forms.ModelChoiceField, self.fields["item"]).queryset = items


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, one row per key result; see the template.")
