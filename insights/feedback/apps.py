from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "insights.feedback"
    label = "feedback"
    verbose_name = "Feedback and experiments"
