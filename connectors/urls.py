from django.urls import path

from . import views

app_name = "connectors"
urlpatterns = [
    path("", views.connection_list, name="list"),
    path("add/", views.gallery, name="add"),
    path("add/<slug:kind>/", views.connection_create, name="create"),
    path("<int:pk>/", views.connection_detail, name="detail"),
    path("<int:pk>/edit/", views.connection_edit, name="edit"),
    path("<int:pk>/sync/", views.connection_sync, name="sync"),
    path("<int:pk>/pause/", views.connection_pause, name="pause"),
    path("<int:pk>/resume/", views.connection_resume, name="resume"),
    path("<int:pk>/backfill/", views.connection_backfill, name="backfill"),
    path("<int:pk>/delete/", views.connection_delete, name="delete"),
    path("<int:pk>/upload/", views.connection_upload, name="upload"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/resume/", views.upload_resume, name="upload_resume"),
]
