from django.urls import path

from . import views

app_name = "alerts"
urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", views.rule_create, name="create"),
    path("<int:pk>/", views.rule_detail, name="detail"),
    path("<int:pk>/edit/", views.rule_edit, name="edit"),
    path("<int:pk>/test/", views.rule_test, name="test"),
    path("<int:pk>/delete/", views.rule_delete, name="delete"),
    path("act/<str:token>/", views.act, name="act"),
    path("chart/<str:token>/", views.chart, name="chart"),
]
