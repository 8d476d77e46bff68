"""The management API (OpenAPIExplorer 2024-11-30 compatible), served at the web root.

Every operation is authenticated by `ManagementAuth` (AccessKey signature, OAuth bearer token or
console session) and every answer, success or error, carries a `requestId` (also sent as the
`x-acs-request-id` header). Errors are `{"requestId", "code", "message"}`; framework defaults
(422 validation details, HTML 500 pages, tracebacks) never reach a client.
"""

from __future__ import annotations

import contextlib
import json
import logging
from functools import cached_property
from typing import Any, cast

from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from config import database
from servers.api import audit
from servers.api import router as servers_router
from servers.api.common import (
    ManagementAuth,
    ManagementParser,
    declare_parameter,
    error_response,
    on_api_error,
    on_http_error,
    on_not_found,
    on_unexpected,
    on_validation_error,
)
from servers.errors import ApiError

logger = logging.getLogger("servers.api")


class ManagementApi(NinjaAPI):
    """Adds the request id header to successes and writes the audit event of every refused call.

    The event of a success is written by `audit.in_transaction_with_audit`, inside the operation's
    transaction; an error answer's event is written here, after that transaction rolled back.
    """

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    declare_parameter(param)
        return schema

    @cached_property
    def _operation_ids(self) -> dict[tuple[str, str], str]:
        paths = self.get_openapi_schema()["paths"]
        return {(method.upper(), path): op["operationId"] for path, ops in paths.items() for method, op in ops.items()}

    def _operation(self, request: HttpRequest) -> str:
        try:
            return self._operation_ids.get((request.method or "", request.path), "")
        except Exception:  # the audit must never change an answer
            logger.exception("could not map %s %s to an operation", request.method, request.path)
            return ""

    def create_response(self, request: HttpRequest, data: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().create_response(request, data, *args, **kwargs)
        rid = getattr(request, "_management_request_id", None)
        if rid:
            response["x-acs-request-id"] = rid
        return response

    def on_exception(self, request: HttpRequest, exc: Any) -> HttpResponse:
        response = super().on_exception(request, exc)
        code, message = (exc.code, exc.message) if isinstance(exc, ApiError) else ("", "")
        if isinstance(exc, HttpError) and isinstance(exc.__cause__, ApiError):
            code, message = exc.__cause__.code, exc.__cause__.message
        if not code and response.get("Content-Type", "").startswith("application/json"):
            with contextlib.suppress(ValueError, AttributeError):
                payload = json.loads(response.content)
                code, message = payload.get("code", ""), payload.get("message", "")
        audit.record(
            request, operation=self._operation(request), status=response.status_code, code=code, message=message
        )
        return response


def on_database_error(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    """No pooled connection became free within DB_POOL_TIMEOUT: 503, retry; anything else: 500."""
    if not database.pool_exhausted(exc):
        return on_unexpected(request, exc)
    logger.warning("management API request %s %s: %s", request.method, request.path, database.busy_message())
    busy = ApiError(
        database.BUSY_CODE, database.busy_message(), 503, headers={"Retry-After": database.RETRY_AFTER_SECONDS}
    )
    return error_response(request, busy)


api = ManagementApi(
    title="OpenAPI MCP Server management API",
    version="2024-11-30",
    description="Compatible with Alibaba Cloud OpenAPIExplorer 2024-11-30; see docs/management-api.md.",
    urls_namespace="mgmt",
    docs_url="/api/docs",
    openapi_url="/api/openapi.json",
    auth=ManagementAuth(),
    parser=ManagementParser(),
)

# (cast: django-ninja's handler type also admits exception classes, which these never receive)
api.add_exception_handler(ApiError, cast(Any, on_api_error))
api.add_exception_handler(ValidationError, cast(Any, on_validation_error))
api.add_exception_handler(HttpError, cast(Any, on_http_error))
api.add_exception_handler(Http404, cast(Any, on_not_found))
api.add_exception_handler(OperationalError, cast(Any, on_database_error))
api.add_exception_handler(Exception, cast(Any, on_unexpected))

api.add_decorator(audit.in_transaction_with_audit, mode="operation")
api.add_router("", servers_router)
api.add_router("", "servers.catalog.api.router")
api.add_router("", "servers.cli_api.router")
api.add_router("", "oauth.connection_api.router")  # an extension: connections (docs/management-api.md)
api.add_router("", "oauth.audit_api.router")  # GetRequestLog, GetOwnRequestLog
api.add_router("", "oauth.network_api.router")  # networks, an extension (docs/management-api.md)
api.add_router("", "oauth.ram_api.router")  # an extension: policies and roles under /ram/ (docs/access.md)
