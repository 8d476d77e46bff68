"""The one error type of the management layer (services, selectors, the API and the console).

An `ApiError` carries a stable `code` (the OpenAPIExplorer error codes of SPEC §3), the HTTP status
the API answers with, a human message and, when one field caused it, that field's wire name so the
console can put the message next to it. The API renders it as `{requestId, code, message}`.
"""

from __future__ import annotations


class ApiError(Exception):
    """A refusal with a stable code, an HTTP status and a message safe to show to the caller."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        self.headers = headers or {}

    def to_dict(self, request_id: str) -> dict[str, str]:
        return {"requestId": request_id, "code": self.code, "message": self.message}


def server_not_found(server_id: str) -> ApiError:
    return ApiError("NotFound.ApiMcpServer", f"Specified MCP server not found: {server_id}.", 404, field="id")


def missing(name: str, field: str | None = None) -> ApiError:
    """`Missing.<Name>`: a mandatory parameter is absent or empty (Alibaba's wording)."""
    return ApiError(f"Missing.{name}", f"{name} is mandatory for this action.", 400, field=field)
