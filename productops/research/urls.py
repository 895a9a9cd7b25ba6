from django.urls import path

from . import views

app_name = "research"
urlpatterns = [
    path("", views.index, name="index"),
    path("studies/new/", views.study_form, name="study_new"),
    path("studies/<int:pk>/", views.study, name="study"),
    path("studies/<int:pk>/edit/", views.study_form, name="study_edit"),
    path("studies/<int:pk>/highlights/", views.add_highlight, name="add_highlight"),
    path("studies/<int:pk>/notes/", views.add_note, name="add_note"),
    path("compare/<int:a>/<int:b>/", views.compare, name="compare"),
    path("import/", views.import_view, name="import"),
    path("import/template.csv", views.import_template, name="import_template"),
]
