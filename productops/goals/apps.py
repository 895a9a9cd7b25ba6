from django.apps import AppConfig


class GoalsConfig(AppConfig):
    name = "productops.goals"
    label = "goals"
    verbose_name = "Goals and key results"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the recompute hook)
