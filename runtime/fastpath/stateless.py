"""Stateless `tools/list` and `tools/call` answered without the SDK's per-request transport.

With `MCP_STATELESS_HTTP=1` the SDK serves every POST with a new transport, memory streams, a
JSON-RPC dispatcher and server task, and an SSE response: several times the cost of the tool call
itself. For the two methods that carry nearly all traffic this module answers in the request's
own task, and changes nothing else:

- the same handlers (the ones registered on the server runtime's SDK `Server`, found through
  `Server.get_request_handler`) with the same typed params, wrapped in the server's middleware;
- the same result shaping (the SDK runner's own, through `internals.serialize_result`: cache
  hints, then the per-version surface) and the same wire form (the JSON-RPC response as `application/json`, which is
  what the SDK sends in its JSON-response mode; SSE-framed and JSON answers are equally valid for
  a client, which must accept both);
- `tools/list` is served from bytes serialised once per (tools list, protocol version): the
  handler still runs (it is cheap) and the cache is keyed on the identity of the tool dicts it
  returns, so a list that changes, or ever differs per caller, gets its own entry.

Only requests it recognises completely take this path: POST, no `Mcp-Session-Id`, a handshake-era
`MCP-Protocol-Version` (or none), an `Accept` the SDK's own check accepts, and a message (read,
size-capped and checked once by `runtime.edge`) that is a JSON-RPC request for `tools/list` (no
params) or `tools/call` (`name` and `arguments` only, no `_meta`) that passes the SDK's own params
validation. Everything else (initialize, other methods, `_meta`, 2026-07-28 requests) goes to the
SDK untouched, with the body replayed, and is answered exactly as before.
`MCP_FAST_PATH=0` turns this off.
"""

from __future__ import annotations

import json
import logging
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

import mcp_types as types
import pydantic_core
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Scope, Send

from runtime.fastpath import internals

if TYPE_CHECKING:
    from runtime.mcp import ServerRuntime

logger = logging.getLogger(__name__)

_HANDSHAKE = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)
_METHODS = frozenset({"tools/list", "tools/call"})
_MESSAGE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_CALL_KEYS = frozenset({"name", "arguments"})
_JSON_HEADERS = b"application/json"

# tools/list answers per server runtime: {(protocol version, tool dict ids): (tool dicts, result JSON)}
_lists: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[list[Any], bytes]]] = weakref.WeakKeyDictionary()


def _eligible_version(request: Request) -> str | None:
    """The protocol version when the headers are what the SDK's stateless handshake-era path accepts
    (the Content-Type was checked by `runtime.edge`)."""
    version = None
    for key, value in request.scope["headers"]:
        if key == b"mcp-session-id":
            return None
        if key == b"mcp-protocol-version" and version is None:
            version = value.decode("latin-1")
    # The SDK's own Accept check for its SSE mode: JSON and SSE both acceptable.
    if check_accept_headers(request) != (True, True):
        return None
    if version is None:
        return types.DEFAULT_NEGOTIATED_VERSION
    return version if version in _HANDSHAKE else None


def _request(message: dict[str, Any]) -> tuple[Any, str, dict[str, Any]] | None:
    """(id, method, params) of one JSON-RPC request this module serves, else None.

    `message` passed `runtime.edge.check`: one JSON-RPC object, a valid id if it has one.
    """
    if not message.keys() <= _MESSAGE_KEYS:
        return None
    request_id, method, params = message.get("id"), message.get("method"), message.get("params")
    if request_id is None or method not in _METHODS:
        return None
    if params is None:
        params = {}
    if method == "tools/list":
        return (request_id, method, params) if not params else None
    if not params.keys() <= _CALL_KEYS or not isinstance(params.get("name"), str):
        return None
    arguments = params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        return None
    return request_id, method, params


async def _send(send: Send, body: bytes) -> None:
    headers = [(b"content-type", _JSON_HEADERS), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _response(request_id: Any, result: Any) -> bytes:
    return pydantic_core.to_json({"jsonrpc": "2.0", "id": request_id, "result": result})


def _error(request_id: Any, error: types.ErrorData) -> bytes:
    dumped = error.model_dump(by_alias=True, mode="json", exclude_unset=True)
    return pydantic_core.to_json({"jsonrpc": "2.0", "id": request_id, "error": dumped})


def _shape(live: ServerRuntime, method: str, version: str, result: Any) -> dict[str, Any]:
    """The result's wire form, shaped by the SDK runner itself (cache hints, the version's surface)."""
    return internals.serialize_result(live.server, method, version, result)


async def serve(live: ServerRuntime, scope: Scope, message: dict[str, Any], send: Send) -> bool:
    """Answer the request if it is a plain stateless tools/list or tools/call; False leaves it to the SDK.

    `message` is the request's JSON-RPC message, read and checked by `runtime.edge`.
    """
    if scope["method"] != "POST":
        return False
    request = Request(scope)
    version = _eligible_version(request)
    if version is None:
        return False
    parsed = _request(message)
    entry = live.server.get_request_handler(parsed[1]) if parsed is not None else None
    if parsed is None or entry is None:
        return False
    request_id, method, params = parsed
    try:
        methods.validate_client_request(method, version, params)
        typed = entry.params_type.model_validate(params, by_name=False)
    except (ValidationError, KeyError, ValueError):
        return False
    ctx: ServerRequestContext[Any, Any] = ServerRequestContext(
        session=None,  # type: ignore[arg-type]  # stateless: no back-channel, as in the SDK's stateless mode
        lifespan_context={},
        protocol_version=version,
        method=method,
        params=params,
        request_id=request_id,
        request=request,
    )
    try:
        if method == "tools/list":
            answer = await _list_tools(live, entry, ctx, typed, request_id, version)
        else:
            answer = _response(request_id, await _compose(live, entry, typed, version)(ctx))
    except Exception as exc:  # the SDK dispatcher's boundary: handler failures become JSON-RPC errors
        error = handler_exception_to_error_data(exc)
        if error is None:
            logger.exception("handler for %r raised (request %s)", method, scope.get("mcp.request_id"))
            error = types.ErrorData(
                code=types.INTERNAL_ERROR, message=f"Internal error; request id {scope.get('mcp.request_id')}"
            )
        answer = _error(request_id, error)
    await _send(send, answer)
    return True


def _compose(live: ServerRuntime, entry: Any, typed: Any, version: str) -> Any:
    """Handler + shaping inside the server's middleware chain, outermost first (as the SDK runner does)."""

    async def inner(ctx: ServerRequestContext[Any, Any]) -> Any:
        result = await entry.handler(ctx, typed)
        if isinstance(result, types.ErrorData):
            raise MCPError.from_error_data(result)
        return _shape(live, ctx.method, version, result)

    call: Any = inner
    for middleware in reversed(live.server.middleware):
        call = partial(_apply_middleware, middleware, call)
    return call


def _apply_middleware(middleware: Any, call_next: Any, ctx: ServerRequestContext[Any, Any]) -> Any:
    return middleware(ctx, call_next)


async def _list_tools(
    live: ServerRuntime, entry: Any, ctx: ServerRequestContext[Any, Any], typed: Any, request_id: Any, version: str
) -> bytes:
    result = await entry.handler(ctx, typed)
    tools = result.get("tools") if isinstance(result, dict) and result.keys() == {"tools"} else None
    if not isinstance(tools, list):  # an unusual shape: no caching
        return _response(request_id, _shape(live, "tools/list", version, result))
    cache = _lists.setdefault(live, {})
    key = (version, *map(id, tools))
    hit = cache.get(key)
    if hit is None:
        if len(cache) > 32:
            cache.clear()
        payload = pydantic_core.to_json(_shape(live, "tools/list", version, result))
        hit = cache[key] = (list(tools), payload)  # the dicts are kept alive, so their ids stay theirs
    return b'{"jsonrpc":"2.0","id":' + json.dumps(request_id).encode() + b',"result":' + hit[1] + b"}"
