"""URL shapes of MCP endpoints (pure).

    /accounts/{accountId}/custom/{name}/id/{id}/{mcp|sse|messages}
    /accounts/{accountId}/system/{product}/{name}/id/{id}/{mcp|sse|messages}
    /accounts/{accountId}/system/{name}/id/{id}/{mcp|sse|messages}      (also accepted)
    /.well-known/oauth-protected-resource/accounts/…/{mcp|sse}          (RFC 9728 metadata)

The same paths are served under the public and the internal base URL; which one a request used is
decided by its Host (see `runtime.asgi`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_SEG = r"[^/]+"
_SERVER = (
    rf"/accounts/(?P<account>{_SEG})/(?:custom/(?P<name>{_SEG})"
    rf"|system/(?:(?P<product>{_SEG})/)?(?P<sysname>{_SEG}))/id/(?P<id>{_SEG})"
)
_ENDPOINT = re.compile(rf"{_SERVER}/(?P<endpoint>mcp|sse|messages)/?")
_METADATA = re.compile(rf"/\.well-known/oauth-protected-resource(?P<resource>{_SERVER}/(?P<endpoint>mcp|sse))/?")
METADATA_PREFIX = "/.well-known/oauth-protected-resource/accounts/"


@dataclass(frozen=True)
class Route:
    account_id: str
    source_type: str  # custom | system
    name: str
    product: str
    server_id: str
    endpoint: str  # mcp | sse | messages | metadata
    base_path: str  # /accounts/…/id/{id}
    resource_path: str  # the protected resource's path (…/mcp or …/sse)


@lru_cache(maxsize=4096)  # every MCP request parses its path twice (config.asgi, then runtime.asgi)
def parse(path: str) -> Route | None:
    metadata = _METADATA.fullmatch(path)
    match = metadata or _ENDPOINT.fullmatch(path)
    if match is None:
        return None
    is_custom = match.group("name") is not None
    endpoint = match.group("endpoint")
    resource = match.group("resource") if metadata else path.rstrip("/")
    base_path = resource.rsplit("/", 1)[0]
    if endpoint == "messages":
        resource = base_path + "/sse"
    return Route(
        account_id=match.group("account"),
        source_type="custom" if is_custom else "system",
        name=match.group("name") if is_custom else match.group("sysname"),
        product=match.group("product") or "",
        server_id=match.group("id"),
        endpoint="metadata" if metadata else endpoint,
        base_path=base_path,
        resource_path=resource,
    )


def handles(path: str) -> bool:
    return parse(path) is not None
