from django.contrib import admin
from django.urls import include, path

from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    # The OAuth authorization server (issuer: the origin; endpoints under /oauth/)
    path("", include("oauth.authserver.urls")),
    path("", include("oauth.urls")),
    path("", include("servers.urls")),
    path("", api.urls),
]
