from django.urls import path

from . import views

app_name = "feedback"
urlpatterns = [
    path("feedback/", views.themes, name="themes"),
    path("feedback/themes/<int:pk>/", views.theme_detail, name="theme"),
    path("feedback/themes/<int:pk>/rename/", views.theme_rename, name="theme_rename"),
    path("feedback/themes/<int:pk>/merge/", views.theme_merge, name="theme_merge"),
    path("feedback/themes/<int:pk>/split/", views.theme_split, name="theme_split"),
    path("feedback/links/<int:pk>/<str:action>/", views.link_decide, name="link_decide"),
    path("feedback/items/<int:pk>/evidence/", views.item_evidence, name="item_evidence"),
    path("nps/", views.nps_page, name="nps"),
    path("support/", views.support_page, name="support"),
    path("experiments/", views.experiments_page, name="experiments"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment"),
]
