from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "productops.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the rollup refresh after syncs)
