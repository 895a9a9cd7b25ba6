from django.urls import path

from . import views

app_name = "dashboards"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("products/<slug:slug>/", views.product_page, name="product"),
    path("explore/", views.explorer, name="explorer"),
    path("rows/<slug:table>/", views.rows, name="rows"),
    path("rows/<slug:table>/export.csv", views.export, name="export"),
]
