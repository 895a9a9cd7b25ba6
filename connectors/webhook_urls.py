from django.urls import path

from connectors import webhooks

app_name = "webhooks"
urlpatterns = [
    path("<slug:token>/", webhooks.receive, name="receive"),
]
