from django.contrib import admin
from django.urls import include, path

from productops.api.urls import api_urlpatterns

# Each app owns its own paths; see docs/ARCHITECTURE.md for which app serves which page.
urlpatterns = [
    path("", include("productops.core.urls")),
    path("", include("productops.dashboards.urls")),
    path("", include("insights.feedback.urls")),  # /feedback/, /nps/, /support/, /experiments/
    path("accounts/", include("productops.accounts.urls")),
    path("data/", include("productops.signals.urls")),  # CSV import
    path("portfolio/", include("insights.overlaps.urls")),  # portfolio page, overlaps, item evidence
    path("insights/", include("insights.urls")),  # inbox, anomaly and incident detail
    path("goals/", include("productops.goals.urls")),  # objectives, key results, alignment
    path("research/", include("productops.research.urls")),  # studies, highlights, redundant research
    path("competitors/", include("productops.competitors.urls")),  # share of voice, mentions, notes
    path("delivery/", include("productops.delivery.urls")),  # opportunities, delivery health, roadmap
    path("digests/", include("productops.digests.urls")),
    path("alerts/", include("productops.alerts.urls")),  # alert rules, signed acknowledge/mute links
    path("connectors/", include("connectors.urls")),
    path("hooks/", include("connectors.webhook_urls")),  # inbound webhooks (public, signed)
    path("accounts/api-tokens/", include("productops.api.urls")),  # Settings → API tokens
    path("views/", include("productops.savedviews.urls")),  # saved views
    *api_urlpatterns,  # /api/v1/: the REST API, its OpenAPI schema and docs
    path("admin/", admin.site.urls),
]
