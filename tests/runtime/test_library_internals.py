"""One test per library internal the runtime relies on (listed in `runtime/fastpath/internals.py`).

Each fails with a message naming the library version the item was written against (pinned in
requirements.txt), so an upgrade that renames, re-signs or changes one of them is caught here, by
name, before the behaviour tests fail in some less obvious way.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpcore
import httpx
import mcp_types as types
import pytest
from mcp.server.caching import CACHEABLE_METHODS, CacheHint
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.runner import ServerRunner
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from uvicorn.protocols.http import httptools_impl

from runtime.fastpath import internals

PINNED = {"httpx": "0.28.1", "httpcore": "1.0.9", "mcp": "2.3.0", "uvicorn": "0.54.0"}


def changed(library: str, item: str) -> str:
    return (
        f"{library} {version(library)} changed {item}, which runtime/fastpath/internals.py relies on "
        f"(written against {library} {PINNED[library]}): update internals.py and this test together"
    )


def test_pins_are_the_versions_these_tests_were_written_for():
    installed = {name: version(name) for name in PINNED}
    assert installed == PINNED, "re-check every item of runtime/fastpath/internals.py against " + str(installed)


# 1. httpx._transports.default.map_httpcore_exceptions ------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpcore.ReadTimeout, httpx.ReadTimeout),
        (httpcore.ConnectTimeout, httpx.ConnectTimeout),
        (httpcore.ConnectError, httpx.ConnectError),
        (httpcore.ReadError, httpx.ReadError),
        (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    ],
)
def test_httpcore_errors_become_httpx_errors(raised, expected):
    item = "httpx._transports.default.map_httpcore_exceptions"
    with pytest.raises(httpx.HTTPError) as caught, internals.map_httpcore_exceptions():
        raise raised("boom")
    assert type(caught.value) is expected, changed("httpx", item)
    assert str(caught.value) == "boom" and isinstance(caught.value.__cause__, raised), changed("httpx", item)


# 2. httpx.AsyncHTTPTransport._pool -------------------------------------------------------------


class _StubPool:
    def __init__(self) -> None:
        self.requests: list[httpcore.Request] = []
        self.closed = False

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        self.requests.append(request)
        return httpcore.Response(200, headers=[(b"content-type", b"text/plain")], content=b"from the stub")

    async def aclose(self) -> None:
        self.closed = True


def test_a_transport_sends_through_and_closes_the_pool_put_in_its_place():
    item = "AsyncHTTPTransport._pool (the pool it sends through and closes)"
    transport = httpx.AsyncHTTPTransport()
    assert isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool), changed("httpx", item)
    pool = _StubPool()
    internals.replace_pool(transport, pool)  # type: ignore[arg-type]

    async def main() -> bytes:
        client = httpx.AsyncClient(transport=transport)
        response = await client.get("http://upstream.test/items/1")
        await client.aclose()
        return response.content

    assert asyncio.run(main()) == b"from the stub", changed("httpx", item)
    assert [bytes(r.url.target) for r in pool.requests] == [b"/items/1"], changed("httpx", item)
    assert pool.closed, changed("httpx", item)


# 3. mcp.server.runner.ServerRunner._serialize --------------------------------------------------


def _server() -> Server[Any]:
    return Server("shaping", cache_hints={m: CacheHint(ttl_ms=0, scope="private") for m in CACHEABLE_METHODS})


def test_results_are_shaped_by_the_sdk_runner():
    item = "ServerRunner._serialize(method, version, result)"
    params = list(inspect.signature(ServerRunner._serialize).parameters)
    assert params == ["self", "method", "version", "result"], changed("mcp", item)
    server = _server()
    tool = {"name": "a", "inputSchema": {"type": "object"}}
    # Handshake era: the version's surface keeps only what it defines.
    listed = internals.serialize_result(server, "tools/list", "2025-06-18", {"tools": [{**tool, "junk": 1}]})
    assert listed == {"tools": [tool]}, changed("mcp", item)
    called = {"content": [{"type": "text", "text": "hi"}], "isError": False}
    assert internals.serialize_result(server, "tools/call", "2025-06-18", {**called, "extra": 2}) == called
    # 2026-07-28: the server's cache hints are applied.
    modern = internals.serialize_result(server, "tools/list", "2026-07-28", {"tools": [tool], "resultType": "complete"})
    assert (modern.get("ttlMs"), modern.get("cacheScope")) == (0, "private"), changed("mcp", item)
    with pytest.raises(MCPError) as caught:
        internals.serialize_result(server, "tools/call", "2025-06-18", {"content": "not a list"})
    assert caught.value.error.code == types.INTERNAL_ERROR, changed("mcp", item)


# 4. mcp.server.session.ServerSession._connection ------------------------------------------------


class _Outbound:
    can_send_request = False

    async def notify(self, method: str, params: Any, opts: Any = None) -> None: ...

    async def send_raw_request(self, *args: Any, **kwargs: Any) -> Any: ...


def test_a_session_knows_its_connection():
    item = "ServerSession._connection (the session's Connection)"
    assert "connection" in inspect.signature(ServerSession.__init__).parameters, changed("mcp", item)
    connection = Connection(_Outbound(), protocol_version="2025-06-18")  # type: ignore[arg-type]
    session = ServerSession(_Outbound(), connection)  # type: ignore[arg-type]
    assert internals.session_connection(session) is connection, changed("mcp", item)
    assert internals.session_connection(None) is None


# 5. StreamableHTTPSessionManager._admit_session / _discard_session --------------------------------


def test_the_session_manager_registers_and_forgets_sessions_through_its_two_seams():
    item = "StreamableHTTPSessionManager._admit_session / _discard_session"
    admit = inspect.signature(StreamableHTTPSessionManager._admit_session).parameters
    discard = inspect.signature(StreamableHTTPSessionManager._discard_session).parameters
    assert list(admit) == ["self", "requestor"], changed("mcp", item)
    assert list(discard) == ["self", "session_id", "transport"], changed("mcp", item)
    # Every session is registered by _admit_session and forgotten by _discard_session, on every path.
    stateful = inspect.getsource(StreamableHTTPSessionManager._handle_stateful_request)
    opening = inspect.getsource(StreamableHTTPSessionManager._serve_opening_request)
    assert "self._admit_session(" in stateful and "self._discard_session(" in stateful, changed("mcp", item)
    assert opening.count("self._discard_session(") >= 2, changed("mcp", item)

    events: list[tuple[str, str]] = []

    class Recording(internals.CountingSessionManager):
        def session_opened(self, session_id: str) -> None:
            events.append(("opened", session_id))

        def session_closed(self, session_id: str) -> None:
            events.append(("closed", session_id))

    async def main() -> str:
        manager = Recording(app=_server(), stateless=False)
        transport = manager._admit_session(None)
        assert transport is not None and transport.mcp_session_id, changed("mcp", item)
        await manager._discard_session(transport.mcp_session_id, transport)
        assert transport.is_terminated, changed("mcp", item)
        return transport.mcp_session_id

    session_id = asyncio.run(main())
    assert events == [("opened", session_id), ("closed", session_id)], changed("mcp", item)


# Behaviour the fast path builds on ------------------------------------------------------------


class _RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: Any) -> None: ...


def test_uvicorn_writes_a_response_head_in_one_write_before_its_body():
    item = "how httptools_impl.HttpToolsProtocol writes a response (head in one write, then the body)"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> list[bytes]:
        import uvicorn
        from uvicorn.server import ServerState

        config = uvicorn.Config(app, http="httptools", log_level="warning", lifespan="off")
        config.load()
        protocol = httptools_impl.HttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        transport = _RecordingTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = asyncio.get_running_loop().time() + 5
        while len(transport.writes) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        protocol.connection_lost(None)
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 2, changed("uvicorn", item)
    head, body = writes
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n"), changed("uvicorn", item)
    assert body == b"ok", changed("uvicorn", item)


class _Stream(httpcore.AsyncNetworkStream):
    """Answers one request with an empty 200, then says whether it is readable as told."""

    def __init__(self, readable: bool) -> None:
        self.readable = readable
        self.asked: list[str] = []
        self.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        answer, self.answer = self.answer, b""
        return answer

    async def write(self, buffer: bytes, timeout: float | None = None) -> None: ...

    async def aclose(self) -> None: ...

    def get_extra_info(self, info: str) -> Any:
        self.asked.append(info)
        return self.readable if info == "is_readable" else None


def test_httpcore_asks_the_network_stream_whether_an_idle_connection_is_readable():
    item = 'AsyncHTTP11Connection.has_expired (asks the stream get_extra_info("is_readable"))'
    origin = httpcore.Origin(b"http", b"upstream.test", 80)

    async def idle_connection(stream: _Stream) -> httpcore.AsyncHTTP11Connection:
        connection = httpcore.AsyncHTTP11Connection(origin, stream)
        response = await connection.handle_async_request(
            httpcore.Request("GET", "http://upstream.test/", headers=[(b"host", b"upstream.test")])
        )
        await response.aread()
        await response.aclose()  # the connection is idle, kept alive
        return connection

    dropped, alive = _Stream(readable=True), _Stream(readable=False)
    assert asyncio.run(idle_connection(dropped)).has_expired(), changed("httpcore", item)
    assert not asyncio.run(idle_connection(alive)).has_expired(), changed("httpcore", item)
    assert "is_readable" in dropped.asked, changed("httpcore", item)


# The rule itself ----------------------------------------------------------------------------


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def test_no_module_of_the_runtime_but_internals_uses_a_private_name():
    """`from x._y import`, `obj._name` (other than on `self`, or Django's documented `Model._meta`),
    `super()._name` and `getattr(obj, "_name")` appear only in runtime/fastpath/internals.py."""
    found = []
    root = Path(__file__).resolve().parents[2] / "runtime"
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts or path.name == "internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                if any(part.startswith("_") for part in node.module.split(".")):
                    found.append(f"{where} from {node.module} import")
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = _root(node)
                if node.attr == "_meta" or (isinstance(base, ast.Name) and base.id in ("self", "cls")):
                    continue
                found.append(f"{where} {ast.unparse(node)}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
                name = node.args[1] if len(node.args) > 1 else None
                if isinstance(name, ast.Constant) and str(name.value).startswith("_"):
                    found.append(f"{where} {ast.unparse(node)}")
    assert found == [], "move these into runtime/fastpath/internals.py, each with a test here: " + ", ".join(found)
