"""GetRequestLog and GetOwnRequestLog (OpenAPIExplorer 2024-11-30): the audit event behind a request id.

- `GET /getRequestLog?logRequestId=` (action `openapiexplorer:GetRequestLog` on
  `acs:openapiexplorer::<account>:requestlog/<logRequestId>`): the event of any user of the
  caller's account, or run in it through an assumed role.
- `GET /getOwnRequestLog?logRequestId=` (no policy needed, as in OpenAPIExplorer): the caller's
  own events only.

A request id is the `requestId` of a management answer or of an MCP request (tool calls), or the
upstream API's request id of a tool call. 404 `NotFound.RequestLog` for an id that matches
nothing the caller may see. The answer's fields: `oauth.audit.log_info`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, Field

from oauth import access
from oauth.audit import find_request_log, log_info
from servers.api.common import authorize, ok, principal_account, query
from servers.errors import ApiError
from servers.schemas import ErrorResponse

router = Router(tags=["Request logs"])
ERRORS = {frozenset({400, 401, 403, 404}): ErrorResponse, 500: ErrorResponse}
MAX_REQUEST_ID = 200


class RequestLogResponse(BaseModel):
    requestId: str
    logInfo: dict[str, Any] = Field(description="basicInfo, callerInfo, authenticationInfo, parameters, responses")


# Declared stricter than checked: printable ASCII with at least one character that is not a space.
LOG_REQUEST_ID = query(
    "The requestId of an earlier call", required=True, maxLength=MAX_REQUEST_ID, pattern="^ *[!-~][ -~]*$"
)


def _log_request_id(value: str | None) -> str:
    if value is None or not value.strip():
        raise ApiError("Missing.LogRequestId", "logRequestId is required: a request id.", field="logRequestId")
    if len(value) > MAX_REQUEST_ID or not value.strip().isprintable():
        raise ApiError(
            "InvalidParam.LogRequestId",
            "Please ensure that the request ID you provided originates from a request you made to a certain OpenAPI.",
            field="logRequestId",
        )
    return value.strip()


def _not_found() -> ApiError:
    return ApiError(
        "NotFound.RequestLog",
        "The log related to this logRequestId does not exist, has expired, or you do not have permission to view it.",
        404,
        field="logRequestId",
    )


@router.get(
    "/getRequestLog",
    operation_id="GetRequestLog",
    summary="The audit event behind a request id, for any user of the account",
    response={200: RequestLogResponse, **ERRORS},
)
def get_request_log(request: HttpRequest, logRequestId: str | None = LOG_REQUEST_ID) -> dict[str, Any]:
    rid = _log_request_id(logRequestId)
    authorize(request, "GetRequestLog", access.account_resource(principal_account(request), f"requestlog/{rid}"))
    event = find_request_log(account_id=principal_account(request), log_request_id=rid)
    if event is None:
        raise _not_found()
    return ok(request, {"logInfo": log_info(event)})


@router.get(
    "/getOwnRequestLog",
    operation_id="GetOwnRequestLog",
    summary="The audit event behind one of the caller's own request ids",
    response={200: RequestLogResponse, **ERRORS},
)
def get_own_request_log(request: HttpRequest, logRequestId: str | None = LOG_REQUEST_ID) -> dict[str, Any]:
    rid = _log_request_id(logRequestId)
    user = request.auth.user  # type: ignore[attr-defined]
    event = find_request_log(account_id=principal_account(request), log_request_id=rid, user_id=user.pk)
    if event is None:
        raise _not_found()
    return ok(request, {"logInfo": log_info(event)})
