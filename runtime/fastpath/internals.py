"""Every private name of a library the runtime relies on, each named here with the reason.

This is the only module of the runtime that touches a library's private attributes or modules
(`from x._y import`, `obj._name`, overriding an underscored method). Each item says what it is,
why no public API does the same, and which test pins it: `tests/runtime/test_library_internals.py`
has one test per item, which fails naming the pinned version (requirements.txt) when an upgrade
changes the item's name, signature or behaviour. Change an item here and in that test together.

The items:

1. `httpx._transports.default.map_httpcore_exceptions` (httpx 0.28.1): the context manager that
   turns httpcore's exceptions into httpx's. Tool calls send straight to the httpcore pool
   (`direct.py`) and must raise what httpx would; httpx exports no public equivalent, and a copy
   of its table would drift.
2. `httpx.AsyncHTTPTransport._pool` (httpx 0.28.1): the httpcore pool the transport sends
   through and closes. httpx builds that pool itself and offers no way to give it a network
   backend, so `UpstreamTransport` replaces it with one that uses `LoopBackend`
   (`replace_pool`); the rest of the transport (request and response conversion, error mapping,
   closing) stays httpx's.
3. `mcp.server.runner.ServerRunner._serialize` (mcp 2.3.0): how the SDK shapes a handler's result
   for the wire (cache hints, the per-version surface). The stateless fast path (`stateless.py`)
   calls it, rather than copying it, so both paths shape results identically (`serialize_result`).
4. `mcp.server.session.ServerSession._connection` (mcp 2.3.0): the `Connection` a request's
   session belongs to. A configuration change is announced on every stateful connection
   (`runtime.mcp`), and the SDK exposes the connection to a handler only through this attribute
   (`session_connection`).
5. `mcp.server.streamable_http_manager.StreamableHTTPSessionManager._admit_session` and
   `._discard_session` (mcp 2.3.0): the manager's seams where a stateful session is registered
   and forgotten (however it ended: DELETE, idle expiry, a refused opening request, a crash,
   shutdown). The session caps (`runtime.limits`) count sessions there (`CountingSessionManager`);
   the manager has no public hook for either.

Not private, but behaviour the fast path builds on and the same test module pins: uvicorn's
httptools protocol writes a response head as one `transport.write` (`http_protocol.py` holds it
to join it with the body), and httpcore's HTTP/1.1 connection asks its network stream
`get_extra_info("is_readable")` to tell whether an idle connection was dropped (`loop_backend.py`
answers without a system call).
"""

from __future__ import annotations

import weakref
from typing import Any

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.runner import ServerRunner
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = [
    "CountingSessionManager",
    "map_httpcore_exceptions",
    "replace_pool",
    "serialize_result",
    "session_connection",
]


# 2. --------------------------------------------------------------------------------------------
def replace_pool(transport: httpx.AsyncHTTPTransport, pool: httpcore.AsyncConnectionPool) -> None:
    """Make `transport` send through (and close) `pool` instead of the pool httpx built for it."""
    transport._pool = pool


# 3. --------------------------------------------------------------------------------------------
# One runner per SDK server, used only for its result shaping (it holds no connection).
_runners: weakref.WeakKeyDictionary[Server[Any], ServerRunner[Any]] = weakref.WeakKeyDictionary()


def serialize_result(server: Server[Any], method: str, version: str, result: Any) -> dict[str, Any]:
    """A handler's result in its wire form for `version`, exactly as the SDK's runner shapes it
    (raises `MCPError` for a result that does not fit the method's schema, as the SDK does)."""
    runner = _runners.get(server)
    if runner is None:
        runner = _runners[server] = ServerRunner(server, None, None)  # type: ignore[arg-type]  # no connection
    return runner._serialize(method, version, result)


# 4. --------------------------------------------------------------------------------------------
def session_connection(session: Any) -> Connection | None:
    """The `Connection` of a request's session, or None (stateless requests have no session)."""
    connection = getattr(session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


# 5. --------------------------------------------------------------------------------------------
class CountingSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, calling `session_opened` when a stateful session is registered and
    `session_closed` when it is forgotten, however it ended (override both)."""

    def session_opened(self, session_id: str) -> None:
        """A stateful session was registered (its opening request is being served)."""

    def session_closed(self, session_id: str) -> None:
        """A session was forgotten (may be called more than once for one session), before its transport
        is terminated."""

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id:
            self.session_opened(transport.mcp_session_id)
        return transport

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        self.session_closed(session_id)
        await super()._discard_session(session_id, transport)
