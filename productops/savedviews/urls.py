from django.urls import path

from . import views

app_name = "savedviews"
urlpatterns = [
    path("", views.views_list, name="list"),
    path("save/", views.save, name="save"),
    path("<int:pk>/", views.open_view, name="open"),
    path("<int:pk>/subscribe/", views.subscribe, name="subscribe"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
