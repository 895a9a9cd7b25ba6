from django.apps import AppConfig


class UiConfig(AppConfig):
    """Registered only so Django finds the `ui` template tag library; it has no models."""

    name = "productops.ui"
    label = "ui"
    verbose_name = "Page helpers"
