from django.apps import AppConfig


class DigestsConfig(AppConfig):
    name = "productops.digests"
    label = "digests"
    verbose_name = "Digests"
