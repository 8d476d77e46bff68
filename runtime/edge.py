"""What an MCP POST body must be before any transport sees it: one JSON-RPC 2.0 message, as MCP has it.

Every POST to a server's `/mcp` or `…/messages` endpoint is read and checked here once (after
authentication), on the fast stateless path and the SDK's paths alike, so a faulty body gets the
same answer whichever path would have served it: a JSON-RPC error object with `id: null` and an
HTTP status, never plain text and never silence.

- a Content-Type other than `application/json` (as the SDK's transport reads it): 415, -32600;
- a body above `MCP_MAX_REQUEST_BYTES` (declared or read): 413, -32600;
- not JSON, or a number JSON cannot carry (`NaN`, `Infinity`, or out of the double range): 400,
  -32700 Parse error, naming the place of a non-finite number;
- a batch (an array; MCP removed batching in 2025-06-18), or anything that is not a request,
  notification or response object; a request `id` that is not a string or an integer (MCP: not
  null, JSON-RPC: no fractions), which the SDK would otherwise take for a notification and never
  answer: 400, -32600 Invalid Request.

Whatever passes is handed on with the body replayed, so the SDK still parses and answers it as it
always does; the parsed message is passed to `runtime.fastpath`, which then does not parse it again.

`jsonrpc_errors` turns the plain-text or empty refusals that the SDK's transports send (unknown
`session_id` on `…/messages`, 405, 406, a foreign Host) into JSON-RPC error bodies of the same status.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from starlette.types import Message, Receive, Scope, Send

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
LIMIT_REACHED = -32000  # implementation-defined server error: a resource cap (runtime.limits)

_JSON = b"application/json"


class Rejected(Exception):
    """A request refused before any transport saw it: HTTP status, JSON-RPC code and message."""

    def __init__(self, status: int, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": None, "error": error}

    async def send(self, send: Send, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        raw = pydantic_core.to_json(self.body())
        head = [(b"content-type", _JSON), (b"content-length", str(len(raw)).encode()), *(headers or [])]
        await send({"type": "http.response.start", "status": self.status, "headers": head})
        await send({"type": "http.response.body", "body": raw})


class ClientGone(Exception):
    """The client disconnected before its body was complete: nothing to answer."""


def _content_type_ok(content_type: str | None) -> bool:
    # Both of the SDK's checks: its transport security (prefix, any case) and its transport (exact type).
    if content_type is None or not content_type.lower().startswith("application/json"):
        return False
    return any(part.strip() == "application/json" for part in content_type.split(";")[0].split(","))


async def read_message(scope: Scope, receive: Receive, max_bytes: int) -> tuple[bytes, dict[str, Any]]:
    """The body and its one JSON-RPC message, or `Rejected` (or `ClientGone`)."""
    content_type = declared = None
    for key, value in scope["headers"]:
        if key == b"content-type" and content_type is None:
            content_type = value.decode("latin-1")
        elif key == b"content-length" and declared is None:
            declared = value
    if not _content_type_ok(content_type):
        raise Rejected(415, INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body, check(body)


def _too_large(max_bytes: int) -> Rejected:
    return Rejected(
        413,
        INVALID_REQUEST,
        f"Request body too large: at most {max_bytes} bytes (MCP_MAX_REQUEST_BYTES)",
    )


def check(body: bytes) -> dict[str, Any]:
    """The one JSON-RPC message in `body`, or `Rejected`."""
    try:
        message = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise Rejected(400, PARSE_ERROR, _parse_error(body, exc)) from None
    if _has_nonfinite(message):  # a number past the double range parses as infinity
        raise Rejected(400, PARSE_ERROR, _nonfinite_message(message))
    if not isinstance(message, dict):
        if isinstance(message, list):
            raise Rejected(
                400,
                INVALID_REQUEST,
                "Invalid Request: batches are not supported; send one JSON-RPC message per HTTP request",
            )
        raise Rejected(400, INVALID_REQUEST, "Invalid Request: the body must be one JSON-RPC message object")
    if message.get("jsonrpc") != "2.0":
        raise Rejected(400, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if "method" in message:
        if not isinstance(message["method"], str):
            raise Rejected(400, INVALID_REQUEST, 'Invalid Request: "method" must be a string')
        if "id" in message and not _valid_id(message["id"]):
            raise Rejected(400, INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer')
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            raise Rejected(400, INVALID_REQUEST, 'Invalid Request: "params" must be an object')
    elif (
        not _valid_id(message.get("id"))
        or ("result" in message) == ("error" in message)
        or not isinstance(message.get("result", message.get("error")), dict)
    ):
        raise Rejected(
            400,
            INVALID_REQUEST,
            'Invalid Request: a message without "method" must be a response: an "id" and either "result" or "error"',
        )
    return message


def _valid_id(value: Any) -> bool:
    return type(value) is str or type(value) is int


def _has_nonfinite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float and item - item != 0.0:  # NaN and ±inf only
            return True
    return False


def _nonfinite_path(value: Any, path: str) -> str | None:
    if isinstance(value, dict):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return path if isinstance(value, float) and value - value != 0.0 else None
    for where, item in items:
        found = _nonfinite_path(item, where)
        if found is not None:
            return found
    return None


def _nonfinite_message(message: Any) -> str:
    where = _nonfinite_path(message, "") or "the body"
    return (
        f"Parse error: {where} is not a finite number (NaN, Infinity and numbers beyond the double range "
        "are not JSON numbers)"
    )


def _parse_error(body: bytes, exc: ValueError) -> str:
    """Say where a NaN or Infinity literal is (a lax parse finds it), else what the parser said."""
    try:
        lax = pydantic_core.from_json(body)
    except ValueError:
        return f"Parse error: {exc}"
    return _nonfinite_message(lax)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the body read here once, then whatever the connection sends."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def jsonrpc_errors(send: Send) -> Send:
    """`send` with non-JSON error answers (status ≥ 400) rewritten as JSON-RPC error bodies.

    Only error answers are held back (they are small and never streamed); everything else passes
    straight through.
    """
    held: dict[str, Any] = {}
    parts: list[bytes] = []

    async def rewriting(message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] >= 400 and not _is_json(message.get("headers") or ()):
                held["start"] = message
                return
        elif message["type"] == "http.response.body" and "start" in held:
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start = held.pop("start")
            text = b"".join(parts).decode("utf-8", "replace").strip() or _reason(start["status"])
            headers = [
                (k, v) for k, v in start.get("headers") or () if k.lower() not in (b"content-type", b"content-length")
            ]
            await Rejected(start["status"], INVALID_REQUEST, text).send(send, headers)
            return
        await send(message)

    return rewriting


def _is_json(headers: Any) -> bool:
    return any(k.lower() == b"content-type" and v.lower().startswith(_JSON) for k, v in headers)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
