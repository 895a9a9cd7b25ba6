from django.urls import path

from . import views

app_name = "signals"
urlpatterns = [
    path("import/", views.import_upload, name="import"),
    path("import/<uuid:token>/", views.import_map, name="import_map"),
    path("import/<uuid:token>/result/", views.import_result, name="import_result"),
    path("import/<uuid:token>/resume/", views.import_resume, name="import_resume"),
    path("import/<uuid:token>/bad-rows.csv", views.import_bad_rows, name="import_bad_rows"),
]
