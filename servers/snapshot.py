"""The compiled form of a server for the MCP runtime and the console: `compiled_for_server`.

Compiled servers are cached in-process by (server id, server version, catalog revision ids)
(`servers.compiler.compiled_cache`); the catalog documents they need are cached by revision id
(`servers.catalog.selectors`). A cache hit costs one small query (the product versions' current
revisions); the runtime, which also keys on the server version, can skip even that.
This module uses the ORM synchronously: call it from async code through `sync_to_async`.
"""

from __future__ import annotations

from typing import Any

from servers.catalog.selectors import catalog_for_server, current_revisions
from servers.compiler import CompiledServer, cache_key, compile_server, compiled_cache
from servers.models import McpServer


def server_settings(server: McpServer) -> dict[str, Any]:
    """The camelCase settings the compiler reads (a subset of the management API's server JSON)."""
    return {
        "id": server.id,
        "version": server.version,
        "name": server.name,
        "language": server.language,
        "apis": server.apis or [],
        "additionalApiDescriptions": server.additional_api_descriptions or [],
        "prompts": server.prompts or [],
        "instructions": server.instructions or "",
        "systemTools": server.system_tools or [],
        "enableAssumeRole": server.enable_assume_role,
        "assumeRoleName": server.assume_role_name or "",
    }


def _pairs(settings: dict[str, Any]) -> set[tuple[str, str]]:
    entries = [*settings["apis"], *settings["additionalApiDescriptions"]]
    return {(str(e.get("product")), str(e.get("apiVersion"))) for e in entries if isinstance(e, dict)}


def compiled_for_server(server: McpServer) -> CompiledServer:
    """The server's compiled tools, from the cache when its version and the catalog are unchanged."""
    settings = server_settings(server)
    key = cache_key(server.id, server.version, current_revisions(_pairs(settings)).values())
    cached = compiled_cache.get(key)
    if cached is not None:
        return cached
    catalog, revision_ids = catalog_for_server(settings)
    key = cache_key(server.id, server.version, revision_ids)
    compiled = compile_server(settings, catalog)
    object.__setattr__(compiled, "key", key)
    compiled_cache.put(key, compiled)
    return compiled


def compiled_for_settings(settings: dict[str, Any]) -> CompiledServer:
    """Compile unsaved settings (console preview, management API responses), without caching."""
    catalog, _ = catalog_for_server(settings)
    return compile_server(settings, catalog)
