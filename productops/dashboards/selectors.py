from __future__ import annotations

from typing import Any

from django.db.models import Count

from productops.portfolio.models import Product


def product_summaries() -> list[dict[str, Any]]:
    """One row per product with how much evidence it has; a fixed number of queries."""
    products = Product.objects.annotate(
        metric_count=Count("metric", distinct=True),
        ticket_count=Count("supportticket", distinct=True),
        item_count=Count("items", distinct=True),
    ).order_by("name")
    return [
        {"product": p, "metrics": p.metric_count, "tickets": p.ticket_count, "items": p.item_count}
        for p in products
    ]
