from django.urls import path

from connectors import tracker_hooks, webhooks

app_name = "webhooks"
urlpatterns = [
    path("<slug:token>/", webhooks.receive, name="receive"),
    path("tracker/<slug:token>/", tracker_hooks.nudge, name="tracker_nudge"),
]
