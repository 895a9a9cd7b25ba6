from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "productops.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # The recompute hook that evaluates the rules after every detection cycle, and the destinations.
        from . import destinations, hooks  # noqa: F401
