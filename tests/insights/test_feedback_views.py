"""The pages render with data and with none, and the PM actions work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from insights.feedback import services
from insights.feedback.models import EvidenceLink, LinkStatus, Theme, ThemeStatus
from productops.signals.models import Experiment, ExperimentResult, Variant

from .factories import make_item, make_nps, make_product, make_tickets


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["feedback:themes", "feedback:nps", "feedback:support", "feedback:experiments"]
)
def test_empty_pages_show_empty_states(pm_client: Client, name: str) -> None:
    response = pm_client.get(reverse(name))
    assert response.status_code == 200
    assert b"empty-state" in response.content


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    product = make_product()
    make_tickets(product)
    make_nps(product, 80, datetime(2026, 9, 1, tzinfo=UTC), {10: 0.5, 8: 0.3, 2: 0.2})
    item = make_item(product, "PROJ-7", "Billing export failures", "Fix the billing CSV export that fails")
    exp = Experiment.objects.create(
        product=product,
        source_key="t",
        external_id="e1",
        key="e1",
        name="Checkout copy",
        surface="checkout",
        primary_metric="conv",
        started_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    c = Variant.objects.create(experiment=exp, key="control", is_control=True)
    t = Variant.objects.create(experiment=exp, key="treatment")
    for v, conv in ((c, 500), (t, 650)):
        for day in (1, 5):
            ExperimentResult.objects.create(
                experiment=exp,
                variant=v,
                metric_key="conv",
                exposures=5000 * day // 5,
                conversions=conv * day // 5,
                date=datetime(2026, 10, day).date(),
            )
    services.recompute_feedback()
    return {"product": product, "item": item, "experiment": exp}


def test_pages_render_with_data_and_filters(pm_client: Client, data: dict[str, Any]) -> None:
    themes = pm_client.get(reverse("feedback:themes") + "?product=acme&source=ticket&start=2026-01-01")
    assert themes.status_code == 200 and b"export" in themes.content and b"data-chart" in themes.content
    assert b"vendor/plotly/plotly.min.js" in themes.content
    nps_page = pm_client.get(reverse("feedback:nps") + "?segment=plan:free")
    assert nps_page.status_code == 200 and b"95% CI" in nps_page.content
    assert pm_client.get(reverse("feedback:support") + "?product=acme").status_code == 200
    experiments = pm_client.get(reverse("feedback:experiments"))
    assert experiments.status_code == 200 and b"Checkout copy" in experiments.content
    assert b"winner" in experiments.content
    detail = pm_client.get(reverse("feedback:experiment", args=[data["experiment"].pk]))
    assert detail.status_code == 200 and b"Holm" in detail.content
    evidence = pm_client.get(reverse("feedback:item_evidence", args=[data["item"].pk]))
    assert evidence.status_code == 200 and b"Customer evidence" in evidence.content


def test_theme_detail_rename_merge_split_and_link(pm_client: Client, data: dict[str, Any]) -> None:
    themes = list(Theme.objects.filter(status=ThemeStatus.ACTIVE).order_by("-size"))
    export = next(t for t in themes if "export" in t.label)
    page = pm_client.get(reverse("feedback:theme", args=[export.pk]))
    assert page.status_code == 200 and b"Portfolio items" in page.content

    pm_client.post(reverse("feedback:theme_rename", args=[export.pk]), {"name": "Exports"})
    export.refresh_from_db()
    assert export.custom_name == "Exports"

    link = EvidenceLink.objects.get(theme=export, item=data["item"])
    response = pm_client.post(reverse("feedback:link_decide", args=[link.pk, "confirm"]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.status == LinkStatus.CONFIRMED

    other = next(t for t in themes if t.pk != export.pk)
    pm_client.post(reverse("feedback:theme_merge", args=[export.pk]), {"other": other.pk})
    other.refresh_from_db()
    assert other.status == ThemeStatus.MERGED
    assert pm_client.get(reverse("feedback:theme", args=[other.pk])).status_code == 302

    response = pm_client.post(reverse("feedback:theme_split", args=[export.pk]))
    assert response.status_code == 302
    export.refresh_from_db()
    assert export.status == ThemeStatus.RETIRED
    assert Theme.objects.filter(split_from=export).count() == 2


def test_actions_refuse_get(pm_client: Client, data: dict[str, Any]) -> None:
    theme = Theme.objects.first()
    assert theme is not None
    assert pm_client.get(reverse("feedback:theme_rename", args=[theme.pk])).status_code == 405
