from django.urls import path

from . import views

app_name = "delivery"
urlpatterns = [
    path("health/", views.health, name="health"),
    path("roadmap/", views.roadmap, name="roadmap"),
    path("items/<int:pk>/", views.item, name="item"),
    path("opportunities/", views.opportunities_page, name="opportunities"),
    path("opportunities/factors/", views.factors, name="factors"),
    path("opportunities/evidence/", views.evidence, name="evidence"),
]
