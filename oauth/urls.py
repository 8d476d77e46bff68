from django.contrib.auth import views as auth_views
from django.urls import path

from oauth import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("access-keys/", views.access_key_list, name="access-key-list"),
    path("access-keys/<str:key_id>/revoke/", views.access_key_revoke_view, name="access-key-revoke"),
]
