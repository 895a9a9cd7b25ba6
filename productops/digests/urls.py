from django.urls import path

from . import views

app_name = "digests"
urlpatterns = [
    path("settings/", views.subscription_settings, name="settings"),
    path("preview/", views.preview, name="preview"),
    path("test/", views.send_test, name="send_test"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("log/", views.delivery_log, name="log"),
    path("lead/", views.lead_settings, name="lead"),
]
