"""Tools over this product's own management API: called on loopback, as the calling user.

The catalog entry `OpenAPIExplorer` 2024-11-30 (style OpenAPI, imported from the served OpenAPI
document by `servers.system_servers`) describes this very installation. Its tools never use a
stored connection: each call gets a fresh internal credential for the caller
(`oauth.internal_credentials`, valid for a minute) and goes to the address the MCP request arrived
on, with the Host header that request carried (already checked against ALLOWED_HOSTS). So the
management API sees the caller, evaluates the caller's own policies, and no secret ever leaves the
host. `MCP_SELF_API_URL` overrides the target (e.g. `http://127.0.0.1:8000` behind a unix socket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from config.env import envstr
from oauth import internal_credentials
from runtime.data import ConnectionRecord
from servers.system_tools import is_management_api


@dataclass(frozen=True)
class InternalCall:
    """The connection and extra headers that send one call to this product's own API."""

    connection: ConnectionRecord
    headers: dict[str, str] = field(default_factory=dict)


def self_base_url(local_url: str) -> str:
    configured = str(getattr(settings, "MCP_SELF_API_URL", "") or envstr("MCP_SELF_API_URL", ""))
    return (configured or local_url or settings.PUBLIC_BASE_URL).rstrip("/")


def local_url(scope: dict[str, Any]) -> str:
    """`http://address:port` of the socket an ASGI request arrived on ('' when not a TCP socket).

    Always plain HTTP: behind a TLS-terminating proxy the scope's scheme says https (proxy headers)
    while the socket speaks HTTP. A server terminating TLS itself sets MCP_SELF_API_URL.
    """
    server = scope.get("server")
    if not server or server[1] is None:
        return ""
    host = str(server[0])
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server[1]}"


def internal_call(
    binding: Any,
    *,
    user_id: int,
    account_id: str,
    server_id: str,
    client_id: str,
    source_ip: str,
    local: str,
    host: str,
) -> InternalCall | None:
    """How to send a call of `binding`, when it is an API of this product's management API."""
    if not is_management_api(binding.product, binding.version, binding.style):
        return None
    token = internal_credentials.mint(
        user_id=user_id, account_id=account_id, server_id=server_id, client_id=client_id, source_ip=source_ip
    )
    connection = ConnectionRecord(
        id=0,
        product=binding.product,
        base_url=self_base_url(local),
        region_endpoints={},
        default_region="",
        auth_type="bearer",
        auth_config={},
        secrets={"token": token},
        connect_timeout=None,
        read_timeout=None,
    )
    return InternalCall(connection, {"host": host} if host else {})
