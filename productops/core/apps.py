from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "productops.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import signals_celery  # noqa: F401  (connects the worker heartbeat)
