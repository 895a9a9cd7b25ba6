from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from productops.accounts.roles import pm_required

from . import selectors


@pm_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboards/overview.html", {"products": selectors.product_summaries()})
