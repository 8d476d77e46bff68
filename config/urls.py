from django.contrib import admin
from django.urls import include, path

from config.api import api
from oauth import signin

urlpatterns = [
    path("admin/", admin.site.urls),
    # django-oauth-toolkit's token and revocation views, with sign-in throttling (oauth.signin)
    path("oauth/token/", signin.TokenView.as_view()),
    path("oauth/revoke_token/", signin.RevokeTokenView.as_view()),
    # The OAuth authorization server (issuer: the origin; endpoints under /oauth/)
    path("", include("oauth.authserver.urls")),
    path("", include("oauth.urls")),
    path("", include("servers.urls")),
    path("", api.urls),
]
