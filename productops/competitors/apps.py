from django.apps import AppConfig


class CompetitorsConfig(AppConfig):
    name = "productops.competitors"
    label = "competitors"
    verbose_name = "Competitive research"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the recompute hook)
