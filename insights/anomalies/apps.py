from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "insights.anomalies"
    label = "anomalies"
    verbose_name = "Anomalies"
