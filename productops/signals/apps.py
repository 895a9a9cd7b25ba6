from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "productops.signals"
    label = "signals"
    verbose_name = "Signals"
