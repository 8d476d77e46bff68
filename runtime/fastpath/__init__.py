"""The runtime's performance machinery, behind one small interface.

What the rest of the runtime calls (and nothing else from this package):

- `serve_stateless(live, scope, message, send) -> bool`: answer a plain stateless `tools/list` or
  `tools/call` without the SDK's per-request transport (`stateless.py`); False leaves the request
  to the SDK. `MCP_FAST_PATH=0` turns it off (`runtime.asgi` checks the setting).
- `UpstreamClient`, `UpstreamTransport`: the process's upstream client and its pooled transport on
  the loop's own transports (`direct.py`, `loop_backend.py`); `send_direct(client, request,
  timeout, max_bytes)` sends a tool call straight to that pool, `read_capped` reads a body with a
  size cap; `AddressRefused` is the SSRF refusal raised when a connection opens.
- `CountingSessionManager` and `session_connection`: the two SDK seams `runtime.mcp` needs for
  session caps and change announcements (`internals.py`).

uvicorn loads `runtime.fastpath.http_protocol:HttpToolsProtocol` (a response's head and body in
one write) by name: `make run`, the test suite's live server and the benchmarks.

Every private name of a library the runtime uses is in `internals.py`, and
`tests/runtime/test_library_internals.py` pins each one. Why each piece exists, with the
benchmark's figures before and after it: docs/performance.md.
"""

from runtime.fastpath.direct import UpstreamClient, UpstreamTransport, read_capped, send_direct
from runtime.fastpath.internals import CountingSessionManager, session_connection
from runtime.fastpath.loop_backend import AddressRefused
from runtime.fastpath.stateless import serve as serve_stateless

__all__ = [
    "AddressRefused",
    "CountingSessionManager",
    "UpstreamClient",
    "UpstreamTransport",
    "read_capped",
    "send_direct",
    "serve_stateless",
    "session_connection",
]
