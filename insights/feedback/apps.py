from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "insights.feedback"
    label = "feedback"
    verbose_name = "Feedback and experiments"

    def ready(self) -> None:
        from . import hooks  # noqa: F401  (registers the recompute hooks)
