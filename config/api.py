"""The management API (OpenAPIExplorer 2024-11-30 compatible), served at the web root."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(
    title="OpenAPI MCP Server management API",
    version="2024-11-30",
    urls_namespace="mgmt",
    docs_url="/api/docs",
    openapi_url="/api/openapi.json",
)
