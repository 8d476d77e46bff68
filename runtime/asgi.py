"""The MCP ASGI application (placeholder until the runtime lands): routing predicate and lifespan."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

_MCP_PATH = re.compile(r"^/accounts/[^/]+/(custom|system)/.+/(mcp|sse|messages)/?$")


def handles(path: str) -> bool:
    return bool(_MCP_PATH.match(path))


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    yield


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps({"code": "NotFound.ApiMcpServer", "message": "MCP server not found"}).encode()
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
