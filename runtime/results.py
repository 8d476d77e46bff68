"""Mapping upstream responses to MCP tool results (pure).

Success: the body as text, as the upstream sent it (a JSON body is not decoded and re-encoded: that
cost about 1.5 ms of CPU for 50 KB), plus `structuredContent` when the tool has an output schema
(non-object roots are wrapped as `{"result": …}`); only then is the body parsed. Failure: `isError: true` with the HTTP
status, error code, message, upstream request id and, when the API's metadata documents the code,
its documented meaning, raised as the `ToolError` every failure of a tool call is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

REQUEST_ID_HEADERS = ("x-acs-request-id", "x-request-id", "x-amzn-requestid", "request-id", "x-github-request-id")
_BODY_REQUEST_ID = re.compile(rb'"(?:RequestId|requestId|request_id)"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)')


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    truncated: bool = False
    limit: int = 0


class ToolError(Exception):
    """A failed tool call, raised anywhere on its path and rendered once: `result()` is the
    `isError` result, `code`, `message` and `outcome` (error | denied | invalid) go to the audit
    event. `payload` is what the result says (default `{code, message, **extra}`)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        outcome: str = "error",
        extra: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.outcome = code, message, outcome
        self.payload = payload if payload is not None else {"code": code, "message": message, **(extra or {})}

    def result(self) -> dict[str, Any]:
        text = json.dumps(self.payload, ensure_ascii=False)
        return {"content": [{"type": "text", "text": text}], "isError": True}


def _parse_json(response: UpstreamResponse) -> tuple[bool, Any]:
    if response.truncated or not response.body:
        return False, None
    ctype = response.headers.get("content-type", "")
    if "json" not in ctype and response.body.lstrip()[:1] not in (b"{", b"["):
        return False, None
    try:
        return True, json.loads(response.body)
    except ValueError:
        return False, None


def _text(response: UpstreamResponse) -> str:
    return response.body.decode("utf-8", errors="replace")


def documented_errors(error_codes: Any) -> dict[str, str]:
    """`{code: meaning}` from an API's `errorCodes` (`{status: [{errorCode, errorMessage, description}]}`)."""
    out: dict[str, str] = {}
    groups: list[Any]
    if isinstance(error_codes, dict):
        groups = list(error_codes.values())
    elif isinstance(error_codes, list):
        groups = [error_codes]
    else:
        return out
    for group in groups:
        for item in group if isinstance(group, list) else []:
            if isinstance(item, dict) and item.get("errorCode"):
                meaning = item.get("description") or item.get("errorMessage") or ""
                out.setdefault(str(item["errorCode"]), str(meaning))
    return out


def _first(data: Any, *keys: str) -> Any:
    if not isinstance(data, dict):
        return None
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return None


def error_details(response: UpstreamResponse, error_codes: Any = None) -> dict[str, Any]:
    is_json, data = _parse_json(response)
    inner = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else data
    code = _first(inner, "Code", "code", "errorCode", "type") or ""
    message = _first(inner, "Message", "message", "errorMessage", "error_description", "error")
    if message is None:
        message = _text(response)[:2000] if not is_json else ""
    request_id = _first(data, "RequestId", "requestId", "request_id") or next(
        (response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), ""
    )
    details: dict[str, Any] = {"httpStatus": response.status, "code": str(code), "message": str(message)}
    if request_id:
        details["requestId"] = str(request_id)
    recommend = _first(data, "Recommend", "recommend")
    if recommend:
        details["recommend"] = recommend
    meaning = documented_errors(error_codes).get(str(code)) if code else None
    if meaning:
        details["documentation"] = meaning
    return details


def upstream_error(response: UpstreamResponse, error_codes: Any = None) -> ToolError:
    """The failure an upstream answer of HTTP >= 400 is: its details, coded `HTTP<status>` when it names no code."""
    details = error_details(response, error_codes)
    return ToolError(details["code"] or f"HTTP{response.status}", details["message"], payload=details)


def map_response(
    response: UpstreamResponse, *, error_codes: Any = None, output_schema: bool = False, wrap_output: bool = False
) -> dict[str, Any]:
    """The `CallToolResult` (as a dict) for an upstream response; HTTP >= 400 raises its ToolError."""
    if response.status >= 400:
        raise upstream_error(response, error_codes)
    content: list[dict[str, Any]] = [{"type": "text", "text": _text(response)}]
    result: dict[str, Any] = {"content": content, "isError": False}
    if response.truncated:
        content.append(
            {
                "type": "text",
                "text": f"[The response was truncated at {response.limit} bytes; narrow the request "
                "(filters, smaller page size) to see all of it.]",
            }
        )
    elif output_schema:
        is_json, data = _parse_json(response)
        if is_json:
            result["structuredContent"] = data if isinstance(data, dict) and not wrap_output else {"result": data}
    return result


def request_id_of(response: UpstreamResponse) -> str:
    """The upstream's request id: a request-id header, else the first `RequestId`-like key of a JSON body.

    Found without decoding the body (a header is what most APIs send; Alibaba Cloud sends both).
    """
    found = next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), "")
    if found or response.truncated:
        return found
    ctype = response.headers.get("content-type", "")
    if "json" not in ctype and response.body.lstrip()[:1] not in (b"{", b"["):
        return ""
    match = _BODY_REQUEST_ID.search(response.body)
    if match is None:
        return ""
    raw = match.group(1)
    try:
        value = json.loads(raw) if raw.startswith(b'"') else int(raw)
    except ValueError:
        return ""
    return str(value) if value not in ("", None) else ""
