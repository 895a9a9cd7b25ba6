from django.urls import path

from . import views

app_name = "goals"
urlpatterns = [
    path("", views.index, name="index"),
    path("objectives/new/", views.objective_form, name="objective_new"),
    path("objectives/<int:pk>/edit/", views.objective_form, name="objective_edit"),
    path("objectives/<int:objective_pk>/key-results/new/", views.key_result_form, name="key_result_new"),
    path("key-results/<int:pk>/", views.key_result, name="key_result"),
    path("key-results/<int:pk>/edit/", views.key_result_form, name="key_result_edit"),
    path("key-results/<int:pk>/check-in/", views.check_in, name="check_in"),
    path("key-results/<int:pk>/align/", views.align, name="align"),
    path("import/", views.import_goals_view, name="import"),
    path("import/template.csv", views.import_template, name="import_template"),
    path("import/bad-rows.csv", views.import_bad_rows, name="import_bad_rows"),
]
