"""The outer ASGI application.

It owns the lifespan: the MCP runtime's session managers, upstream HTTP client and audit writer
start and stop there, and the event loop's default executor is made one that gives database
connections back (config.database). It sends MCP paths (`/accounts/…/mcp|sse|messages`) to
`runtime/`, and hands every other request to Django.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from config.database import ConnectionClosingExecutor  # noqa: E402
from runtime import asgi as mcp_runtime  # noqa: E402


async def _lifespan(receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "lifespan.startup"
    # Where Django logs 4xx/5xx answers and renders error pages off the loop (config.database).
    asyncio.get_running_loop().set_default_executor(ConnectionClosingExecutor(thread_name_prefix="asgi"))
    try:
        async with mcp_runtime.lifespan():
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
    except BaseException as exc:  # report start-up failures to the server instead of hanging
        await send({"type": "lifespan.startup.failed", "message": repr(exc)})
        raise
    await send({"type": "lifespan.shutdown.complete"})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http" and mcp_runtime.handles(scope["path"]):
        await mcp_runtime.app(scope, receive, send)
    else:
        await django_app(scope, receive, send)
