from django.urls import path

from . import views

app_name = "competitors"
urlpatterns = [
    path("", views.index, name="index"),
    path("manage/", views.manage, name="manage"),
    path("manage/<slug:slug>/", views.manage, name="edit"),
    path("manage/<slug:slug>/delete/", views.delete, name="delete"),
    path("<slug:slug>/", views.detail, name="detail"),
]
