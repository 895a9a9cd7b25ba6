from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_page, name="settings"),
    path("users/", views.users_page, name="users"),
    path("users/<int:user_id>/role/", views.set_user_role, name="set_role"),
]
