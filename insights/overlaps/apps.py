from django.apps import AppConfig


class OverlapsConfig(AppConfig):
    name = "insights.overlaps"
    label = "overlaps"
    verbose_name = "Overlaps"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the recompute hook)
