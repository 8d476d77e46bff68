"""Fixtures for MCP runtime tests: a real upstream HTTP server, servers, tokens and MCP clients.

The upstream is a Starlette app under uvicorn on loopback. It verifies Alibaba Cloud V3
signatures with the official `alibabacloud-tea-openapi` code (and answers
`SignatureDoesNotMatch` on a mismatch), records every request and echoes it back as JSON. A value
`error:<status>:<Code>` in any query parameter or body field makes it answer that error instead.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from alibabacloud_tea_openapi.utils import Utils as TeaUtils

ACCESS_KEY_ID = "LTAItestkey0001"
ACCESS_KEY_SECRET = "test-secret-0001"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.alt_url = f"http://localhost:{port}"  # same server, another Host: a second "region"
        self.requests: list[dict[str, Any]] = []
        self.secrets = {ACCESS_KEY_ID: ACCESS_KEY_SECRET}

    def last(self) -> dict[str, Any]:
        assert self.requests, "the upstream received no request"
        return self.requests[-1]

    def verify_acs3(
        self, method: str, raw_path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> str:
        """'' when the signature is valid, else the reason (computed with the official package)."""
        auth = headers.get("authorization", "")
        try:
            credential = auth.split("Credential=")[1].split(",")[0]
            signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        except IndexError:
            return "malformed Authorization"
        secret = self.secrets.get(credential)
        if secret is None:
            return "unknown AccessKey"
        if hashlib.sha256(body).hexdigest() != headers.get("x-acs-content-sha256"):
            return "x-acs-content-sha256 does not match the body"
        wire = SimpleNamespace(
            method=method, pathname=raw_path, query=query, headers={h: headers.get(h, "") for h in signed}
        )
        expected = TeaUtils.get_authorization(
            wire, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], credential, secret
        )
        return "" if expected == auth else "signature mismatch"

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def handle(request: Request) -> JSONResponse:
            body = await request.body()
            raw_path = request.scope.get("raw_path", b"").decode() or request.url.path
            query = dict(parse_qsl(request.url.query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in request.headers.items()}
            request_id = str(uuid.uuid4()).upper()
            record = {
                "method": request.method,
                "path": raw_path,
                "query": query,
                "query_list": parse_qsl(request.url.query, keep_blank_values=True),
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
                "host": headers.get("host", ""),
            }
            self.requests.append(record)
            if headers.get("authorization", "").startswith("ACS3-HMAC-SHA256"):
                problem = self.verify_acs3(request.method, raw_path, query, headers, body)
                if problem:
                    return JSONResponse(
                        {"RequestId": request_id, "Code": "SignatureDoesNotMatch", "Message": problem}, status_code=400
                    )
            values = list(query.values())
            if body and headers.get("content-type", "").startswith("application/json"):
                try:
                    decoded = json.loads(body)
                    values += [v for v in decoded.values() if isinstance(v, str)] if isinstance(decoded, dict) else []
                except ValueError:
                    pass
            for value in values:
                if value.startswith("error:"):
                    _, status, code = value.split(":", 2)
                    return JSONResponse(
                        {"RequestId": request_id, "Code": code, "Message": f"Simulated {code}"}, status_code=int(status)
                    )
            echo = {"RequestId": request_id, **{k: v for k, v in record.items() if k != "query_list"}}
            try:
                echo["json"] = json.loads(body) if body else None
            except ValueError:
                echo["json"] = None
            return JSONResponse(echo)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", handle, methods=methods)])


class _Thread(threading.Thread):
    def __init__(self, app: Any, port: int) -> None:
        super().__init__(daemon=True)
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

    def run(self) -> None:
        self.server.run()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A real HTTP API on loopback that checks V3 signatures and echoes requests."""
    port = free_port()
    server = Upstream(port)
    thread = _Thread(server.app(), port)
    thread.start()
    deadline = time.monotonic() + 10
    while not thread.server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("upstream did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        thread.server.should_exit = True
        thread.join(10)


# Servers, connections, tokens ------------------------------------------------------------------


@pytest.fixture
def make_server(transactional_db: Any) -> Any:
    """`make_server(account, name, apis=[…], **fields)` → an McpServer saved directly."""
    from servers.models import McpServer

    def make(account: Any, name: str, apis: list[dict[str, Any]], **fields: Any) -> Any:
        return McpServer.objects.create(account=account, name=name, apis=apis, **fields)

    return make


@pytest.fixture
def ak_connection() -> Any:
    """`ak_connection(account, product, base_url=…, region_endpoints=…, secret=…)`: an AccessKey connection."""
    from oauth.models import Connection

    def make(account: Any, product: str, *, secret: str = ACCESS_KEY_SECRET, **fields: Any) -> Any:
        connection = Connection(account=account, product=product, auth_type=Connection.AUTH_ALIBABA_AK, **fields)
        connection.auth_config = {"access_key_id": ACCESS_KEY_ID}
        connection.set_secrets({"access_key_secret": secret})
        connection.save()
        return connection

    return make


@pytest.fixture
def pat() -> Any:
    """`pat(user, server_id="")` → a personal access token string."""
    from oauth.services import personal_token_create

    def make(user: Any, server_id: str = "") -> str:
        return personal_token_create(user=user, server_id=server_id)

    return make


def server_path(server: Any) -> str:
    return f"/accounts/{server.account_id}/custom/{server.name}/id/{server.id}"


@asynccontextmanager
async def mcp_client(url: str, token: str | None, *, transport: str = "http", mode: str = "legacy", **kw: Any) -> Any:
    """The official MCP client over Streamable HTTP (`http`) or SSE (`sse`), bearer token attached."""
    import httpx2
    from mcp.client import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "sse":
        async with Client(sse_client(url, headers=headers), mode="legacy", **kw) as client:
            yield client
        return
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode, **kw) as client:
        yield client


@pytest.fixture
def mcp() -> Any:
    """`mcp.client(url, token, transport=…, mode=…)` and `mcp.path(server)`."""
    return SimpleNamespace(client=mcp_client, path=server_path)
