"""The management API of MCP servers (django-ninja routers), mounted at the web root by config/api.py."""

from servers.api.servers import router

__all__ = ["router"]
