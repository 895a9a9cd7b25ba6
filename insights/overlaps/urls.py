from django.urls import path

from . import views

app_name = "overlaps"
urlpatterns = [
    path("", views.portfolio, name="portfolio"),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("overlaps/<int:pk>/<slug:action>/", views.overlap_action, name="action"),
]
