from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("productops.core.urls")),
    path("", include("productops.dashboards.urls")),
    path("accounts/", include("productops.accounts.urls")),
    path("signals/", include("productops.signals.urls")),
    path("portfolio/", include("productops.portfolio.urls")),
    path("digests/", include("productops.digests.urls")),
    path("connectors/", include("connectors.urls")),
    path("insights/", include("insights.urls")),
    path("admin/", admin.site.urls),
]
