from django.urls import path

from . import sso, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("sso/start/", sso.SSOStartView.as_view(), name="sso_start"),
    path("sso/callback/", sso.SSOCallbackView.as_view(), name="sso_callback"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/two-factor/", views.two_factor_setup, name="two_factor_setup"),
    path("settings/two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("users/", views.users_page, name="users"),
    path("users/invite/", views.invite_user, name="invite"),
    path("users/invitations/<int:invitation_id>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("users/<int:user_id>/role/", views.set_user_role, name="set_role"),
    path("users/<int:user_id>/active/", views.set_user_active, name="set_active"),
    path("invitation/<str:token>/", views.accept_invitation, name="accept_invitation"),
]
