from django.urls import path

from insights.anomalies import views

app_name = "insights"
urlpatterns: list = [
    path("", views.inbox, name="inbox"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/triage/", views.triage, name="triage"),
    path("metrics/<int:metric_id>/sensitivity/", views.metric_sensitivity, name="metric_sensitivity"),
]
