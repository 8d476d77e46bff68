from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    # RFC 8414 / RFC 9728 documents live at the origin's /.well-known/ (the issuer is /oauth).
    path("", include((oauth2_urls.metadata_urlpatterns, "oauth2_metadata"))),
    path("oauth/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("", include("oauth.urls")),
    path("", include("servers.urls")),
    path("", api.urls),
]
