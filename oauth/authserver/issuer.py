"""The issuer identifier, computed the same way by Django (metadata, `iss`) and the MCP runtime (PRM).

The issuer is the origin the client used: the configured `PUBLIC_BASE_URL` or `INTERNAL_BASE_URL`
when the request's Host is theirs (so a TLS-terminating proxy in front does not turn `https` into
`http`), else the request's own scheme and Host. It has no path: clients probe
`/.well-known/oauth-authorization-server` at the origin and compare the `issuer` in it, and the
`iss` of the authorization response, with the PRM's `authorization_servers` by plain string
comparison.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


def issuer(scheme: str, host: str) -> str:
    host = host.strip().lower()
    for base in (settings.PUBLIC_BASE_URL, settings.INTERNAL_BASE_URL):
        parts = urlsplit(base)
        if parts.netloc and parts.netloc.lower() == host:
            return f"{parts.scheme}://{parts.netloc.lower()}"
    return f"{scheme or 'http'}://{host}"


def issuer_for_request(request: Any) -> str:
    """The issuer for a Django request (ASGI scope scheme when there is one, as the runtime sees it)."""
    scope = getattr(request, "scope", None)
    scheme = scope.get("scheme", "") if isinstance(scope, dict) else ""
    return issuer(scheme or request.scheme, request.get_host())
