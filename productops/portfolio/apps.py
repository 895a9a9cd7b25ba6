from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    name = "productops.portfolio"
    label = "portfolio"
    verbose_name = "Portfolio"
