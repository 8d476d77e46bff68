"""RFC 8707 resource indicators: the MCP server a `resource` URL names.

A resource is one MCP server's URL on this installation: its `…/mcp` or `…/sse` endpoint or the
base `…/id/{id}` (the runtime accepts a token bound to any of them on that server), on the origin
of the request, `PUBLIC_BASE_URL` or `INTERNAL_BASE_URL`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from runtime import routes


@dataclass(frozen=True)
class ResourceServer:
    """The MCP server behind a resource indicator, as the consent page names it."""

    url: str
    server_id: str
    name: str
    account_id: str
    account_name: str
    oauth_client_id: str


class InvalidResource(Exception):
    """An RFC 8707 `invalid_target`: the message says which resource and why."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def server_for_resource(resource: str, issuer: str) -> ResourceServer:
    """The server `resource` names, or InvalidResource."""
    from servers.models import McpServer

    parts = urlsplit(resource)
    origins = {_origin(issuer), _origin(settings.PUBLIC_BASE_URL), _origin(settings.INTERNAL_BASE_URL)}
    if _origin(resource) not in origins or parts.query or parts.fragment:
        raise InvalidResource(f"The resource {resource} is not an MCP server URL of this site ({issuer})")
    path = parts.path.rstrip("/")
    route = routes.parse(path) or routes.parse(path + "/mcp")
    if route is None or route.endpoint not in ("mcp", "sse"):
        raise InvalidResource(f"The resource {resource} is not an MCP server URL (…/id/<id>/mcp or …/sse)")
    server = (
        McpServer.objects.select_related("account")
        .filter(pk=route.server_id, account_id=route.account_id, source_type=route.source_type)
        .first()
    )
    if server is None or (route.source_type == "custom" and server.name != route.name):
        raise InvalidResource(f"The resource {resource} names no MCP server")
    return ResourceServer(
        url=resource,
        server_id=server.pk,
        name=server.name,
        account_id=str(server.account_id),
        account_name=server.account.name,
        oauth_client_id=server.oauth_client_id,
    )
