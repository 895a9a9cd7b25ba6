from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "productops.api"
    label = "api"
    verbose_name = "REST API"
