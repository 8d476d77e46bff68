from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from config.api import api
from oauth import signin

urlpatterns = [
    path("admin/", admin.site.urls),
    # RFC 8414 / RFC 9728 documents live at the origin's /.well-known/ (the issuer is /oauth).
    path("", include((oauth2_urls.metadata_urlpatterns, "oauth2_metadata"))),
    # django-oauth-toolkit's token and revocation views, with sign-in throttling (oauth.signin)
    path("oauth/token/", signin.TokenView.as_view()),
    path("oauth/revoke_token/", signin.RevokeTokenView.as_view()),
    path("oauth/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("", include("oauth.urls")),
    path("", include("servers.urls")),
    path("", api.urls),
]
