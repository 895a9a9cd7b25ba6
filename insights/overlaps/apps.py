from django.apps import AppConfig


class OverlapsConfig(AppConfig):
    name = "insights.overlaps"
    label = "overlaps"
    verbose_name = "Overlaps"
