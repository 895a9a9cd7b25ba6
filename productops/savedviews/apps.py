from django.apps import AppConfig


class SavedViewsConfig(AppConfig):
    name = "productops.savedviews"
    label = "savedviews"
    verbose_name = "Saved views"
