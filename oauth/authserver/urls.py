"""The authorization server's URLs, in django-oauth-toolkit's `oauth2_provider` namespace.

Mounted at the site root: RFC 8414 metadata at `/.well-known/oauth-authorization-server` (the
issuer is the origin, so there is no path-suffixed form), the endpoints under `/oauth/`. Only what
MCP clients use is mounted: no OpenID Connect (its paths answer 404), no device flow, no
introspection, no DOT application-management pages (operators use `/admin/`).
"""

from django.urls import path
from oauth2_provider import views as oauth2_views

from oauth import signin
from oauth.authserver import views

app_name = "oauth2_provider"

urlpatterns = [
    path(".well-known/oauth-authorization-server", views.MetadataView.as_view(), name="oauth-server-metadata"),
    path("oauth/authorize/", views.ConsentView.as_view(), name="authorize"),
    # DOT's token and revocation views with sign-in throttling (oauth.signin)
    path("oauth/token/", signin.TokenView.as_view(), name="token"),
    path("oauth/revoke_token/", signin.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/register/", views.RegistrationView.as_view(), name="dcr-register"),
    path(
        "oauth/register/<str:client_id>/",
        oauth2_views.DynamicClientRegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
]
