from django.apps import AppConfig


class ResearchConfig(AppConfig):
    name = "productops.research"
    label = "research"
    verbose_name = "User research"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the recompute hooks)
