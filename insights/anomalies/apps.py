from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "insights.anomalies"
    label = "anomalies"
    verbose_name = "Anomalies"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the recompute hook)
