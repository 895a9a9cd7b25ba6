from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "productops.delivery"
    label = "delivery"
    verbose_name = "Opportunities and delivery health"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the delivery recompute)
