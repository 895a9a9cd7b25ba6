from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "productops.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"
