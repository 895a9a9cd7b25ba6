from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from productops.accounts.roles import public

from . import health


@public
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    report = {
        "status": "ok",
        "database": health.check_database(),
        "broker": health.check_broker(),
        "worker": health.check_worker(),
    }
    healthy = all(value == "ok" for key, value in report.items() if key != "status")
    if not healthy:
        report["status"] = "error"
    return JsonResponse(report, status=200 if healthy else 503)
