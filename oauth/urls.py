from django.contrib.auth import views as auth_views
from django.urls import path

from oauth import signin, views

urlpatterns = [
    path("login/", signin.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("access-keys/", views.access_key_list, name="access-key-list"),
    path("access-keys/<str:key_id>/revoke/", views.access_key_revoke_view, name="access-key-revoke"),
    # (the management API's /connections and /connection have no trailing slash)
    path("connections/", views.connection_list, name="connection-list"),
    path("connections/new/", views.connection_create_view, name="connection-create"),
    path("connections/<int:pk>/edit/", views.connection_edit, name="connection-edit"),
    path("connections/<int:pk>/delete/", views.connection_delete_view, name="connection-delete"),
]
