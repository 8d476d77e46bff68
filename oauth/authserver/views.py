"""django-oauth-toolkit's views where MCP clients need more than its settings give.

- `MetadataView` (RFC 8414): the one issuer of `oauth.authserver.issuer`, endpoints under it.
- `OAuthLibCore`: the RFC 9207 `iss` of authorization responses is that same issuer.
- `ConsentView`: the authorization endpoint. The RFC 8707 `resource` must name one MCP server of
  this site (`invalid_target` otherwise) whose custom OAuth client, if it has one, is the
  requesting client; the consent page names the client, where it will receive the code, the
  server, its account and the scopes, and refuses a user of another account.
- `RegistrationView` (RFC 7591): open to anonymous clients, with the redirect-URI policy and the
  per-address limit of `oauth.authserver.clients`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import oauth2_backends
from oauth2_provider import views as oauth2_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from oauth.authserver import clients
from oauth.authserver.issuer import issuer_for_request
from oauth.authserver.resources import InvalidResource, ResourceServer, server_for_resource


def _with_iss(uri: str, issuer: str) -> str:
    """`uri` with exactly one `iss` query parameter (RFC 9207), ours."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("iss", issuer)])))


class OAuthLibCore(oauth2_backends.OAuthLibCore):
    def create_authorization_response(self, request: HttpRequest, scopes: Any, credentials: Any, allow: Any) -> Any:
        uri, headers, body, status = super().create_authorization_response(request, scopes, credentials, allow)
        if uri is not None and not urlsplit(uri).fragment:
            uri = headers["Location"] = _with_iss(uri, issuer_for_request(request))
        return uri, headers, body, status


class MetadataView(oauth2_views.OAuthServerMetadataView):
    """RFC 8414 metadata at the origin's `/.well-known/oauth-authorization-server`."""

    def _get_endpoint_url(self, request: HttpRequest, view_name: str, required: bool = False) -> str | None:
        url = super()._get_endpoint_url(request, view_name, required)
        if url is None:
            return None
        return issuer_for_request(request) + urlsplit(url).path

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document["issuer"] = issuer_for_request(request)
        answer = JsonResponse(document)
        answer["Access-Control-Allow-Origin"] = "*"
        return answer


# Authorization and consent -----------------------------------------------------------------------


def _invalid_target(message: str, credentials: dict[str, Any]) -> OAuthToolkitError:
    error = CustomOAuth2Error(error="invalid_target", description=message, state=credentials.get("state"))
    return OAuthToolkitError(error=error, redirect_uri=credentials.get("redirect_uri"))


def _redirect_place(redirect_uri: str) -> str:
    """Where the code goes, as a person can judge it: a host, this computer, or an app's scheme."""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https"):
        if (parts.hostname or "").lower() in clients.LOOPBACK_HOSTS:
            return f"an app on this computer ({parts.netloc})"
        return parts.netloc
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


class ConsentView(oauth2_views.AuthorizationView):
    template_name = "oauth/consent.html"

    def target(self, resources: list[str], client_id: str, credentials: dict[str, Any]) -> ResourceServer | None:
        """The one MCP server the authorization is for (None: no resource was named), or OAuthToolkitError."""
        if not resources:
            if settings.OAUTH_REQUIRE_RESOURCE:
                raise _invalid_target(
                    "Name the MCP server with the resource parameter (RFC 8707): its …/mcp or …/sse URL", credentials
                )
            return None
        if len(resources) > 1:
            raise _invalid_target("A token is bound to one MCP server: send one resource parameter", credentials)
        try:
            server = server_for_resource(resources[0], issuer_for_request(self.request))
        except InvalidResource as exc:
            raise _invalid_target(str(exc), credentials) from None
        if server.oauth_client_id and server.oauth_client_id != client_id:
            raise _invalid_target(
                f"The MCP server {server.name} accepts only tokens of its own OAuth client "
                f"({server.oauth_client_id}); configure your MCP client with that client id",
                credentials,
            )
        return server

    def validate_authorization_request(self, request: HttpRequest) -> Any:
        scopes, credentials = super().validate_authorization_request(request)
        self.server_target = self.target(request.GET.getlist("resource"), credentials["client_id"], credentials)
        return scopes, credentials

    def error_response(self, error: Any, application: Any, **kwargs: Any) -> HttpResponse:
        response = super().error_response(error, application, **kwargs)
        location = response.get("Location") if response.status_code in (301, 302, 303, 307) else None
        if location and not urlsplit(location).fragment:
            response["Location"] = _with_iss(location, issuer_for_request(self.request))
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if application is None:
            return context  # an error page
        user: Any = self.request.user
        server: ResourceServer | None = getattr(self, "server_target", None)
        sources = application.RegistrationSource
        context.update(
            client_name=application.name or application.client_id,
            client_source={
                sources.DCR: "registered itself with this site (dynamic client registration)",
                sources.CIMD: f"described by its metadata document at {application.client_id}",
            }.get(application.registration_source, "configured by an operator of this site"),
            redirect_place=_redirect_place(context.get("redirect_uri") or ""),
            server=server,
            account_mismatch=server is not None and str(user.account_id or "") != server.account_id,
            scope_items=list(zip(context.get("scopes", []), context.get("scopes_descriptions", []), strict=False)),
        )
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        data = form.cleaned_data
        credentials = {"redirect_uri": data.get("redirect_uri"), "state": data.get("state")}
        application = get_application_model().objects.filter(client_id=data.get("client_id")).first()
        try:
            # The hidden fields came back from the browser: check them again.
            server = self.target((data.get("resource") or "").split(), data.get("client_id", ""), credentials)
            user: Any = self.request.user
            if data.get("allow") and server is not None and str(user.account_id or "") != server.account_id:
                error = CustomOAuth2Error(
                    error="access_denied",
                    description=f"{user.username} is not a user of the account that owns {server.name}",
                    state=data.get("state"),
                )
                raise OAuthToolkitError(error=error, redirect_uri=data.get("redirect_uri"))
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return super().form_valid(form)


# Dynamic client registration ---------------------------------------------------------------------


def _registration_error(error: str, description: str, status: int = 400, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def client_address(request: HttpRequest) -> str:
    """The caller's address behind `TRUSTED_PROXIES`, as the MCP runtime computes it."""
    from runtime.asgi import client_ip

    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        scope = {"client": (request.META.get("REMOTE_ADDR", ""), 0), "headers": []}
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            scope["headers"] = [(b"x-forwarded-for", forwarded.encode("latin-1"))]
    return client_ip(scope)


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(oauth2_views.DynamicClientRegistrationView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = clients.registration_retry_after(client_address(request))
        if wait:
            return _registration_error(
                "temporarily_unavailable",
                f"Too many client registrations from your address; try again in {wait} seconds",
                429,
                **{"Retry-After": str(wait)},
            )
        try:
            data = json.loads(request.body)
        except ValueError:
            return _registration_error("invalid_client_metadata", "The request body must be a JSON object")
        if not isinstance(data, dict):
            return _registration_error("invalid_client_metadata", "The request body must be a JSON object")
        problem = clients.redirect_uris_problem(data.get("redirect_uris"))
        if problem:
            return _registration_error("invalid_redirect_uri", f"redirect_uris: {problem}")
        grant_types = data.get("grant_types", ["authorization_code"])
        if not isinstance(grant_types, list) or not set(grant_types) <= {"authorization_code", "refresh_token"}:
            return _registration_error(
                "invalid_client_metadata",
                "grant_types: only authorization_code (with refresh_token) can be registered here",
            )
        response_types = data.get("response_types", ["code"])
        if not isinstance(response_types, list) or not set(response_types) <= {"code"}:
            return _registration_error("invalid_client_metadata", 'response_types: only "code" is supported')
        response = super().post(request, *args, **kwargs)
        if response.status_code == 201:
            clients.maybe_purge_unused_clients()
        return response
