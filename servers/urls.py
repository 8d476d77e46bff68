from django.urls import path, re_path

from servers import views

urlpatterns = [
    path("", views.server_list, name="server-list"),
    path("servers/new/", views.server_create_view, name="server-create"),
    path("servers/<str:server_id>/", views.server_detail, name="server-detail"),
    path("servers/<str:server_id>/edit/", views.server_edit, name="server-edit"),
    path("servers/<str:server_id>/delete/", views.server_delete_view, name="server-delete"),
    path(
        "servers/<str:server_id>/client-config/<str:client>/",
        views.server_client_config_download,
        name="server-client-config",
    ),
    # The console's static files come from the application itself, so a deployment needs no
    # separate static file server.
    re_path(r"^static/(?P<path>.+)$", views.static_file, name="console-static"),
]
