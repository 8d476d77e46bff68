"""Management API operations for MCP servers (OpenAPIExplorer 2024-11-30, SPEC §3).

Each operation: authorize the policy action → (idempotent) service call or selector → JSON.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from servers.api.common import account_resource, authorize, ok, principal_account, query, server_resource
from servers.errors import ApiError
from servers.idempotency import MAX_TOKEN_LENGTH, check_client_token, run_idempotent
from servers.pagination import MAX_RESULTS_LIMIT, check_max_results
from servers.schemas import (
    LANGUAGES,
    SOURCE_TYPES,
    CreateApiMcpServerBody,
    CreateApiMcpServerResponse,
    ErrorResponse,
    GetApiMcpServerResponse,
    GetApiMcpServerUserConfigResponse,
    ListApiMcpServersResponse,
    ListApiMcpServerSystemToolsResponse,
    RequestIdResponse,
    UpdateApiMcpServerBody,
    UpdateApiMcpServerResponse,
    UpdateApiMcpServerUserConfigBody,
)
from servers.selectors import (
    iso_utc,
    offset_from_token,
    offset_page_token,
    server_get_for_user,
    server_page,
    server_to_dict,
    server_urls,
    server_warnings,
)
from servers.services import server_create, server_delete, server_update, user_config_update
from servers.system_tools import SYSTEM_TOOLS

router = Router(tags=["MCP servers"])
ERRORS = {frozenset({400, 401, 403, 404, 409, 429}): ErrorResponse, 500: ErrorResponse}


def _responses(success: Any) -> dict[Any, Any]:
    return {200: success, **ERRORS}


def _required_id(server_id: str | None) -> str:
    if not server_id:
        raise ApiError("Missing.Id", "Id is mandatory for this action.", field="id")
    return server_id


def _max_results(value: int | None) -> int:
    try:
        return check_max_results(value)
    except ValueError as exc:
        raise ApiError("InvalidParam.MaxResults", str(exc), field="maxResults") from None


MAX_SKIP = 2**31 - 1  # skip is an int32 in the OpenAPIExplorer contract


# The parameters several operations share, with their limits declared in the document.
SERVER_ID = query("The server's id", default=..., minLength=1)
CLIENT_TOKEN = query(
    "Idempotency token: printable ASCII without spaces", maxLength=MAX_TOKEN_LENGTH, pattern="^[!-~]*$"
)
MAX_RESULTS = query(f"0-{MAX_RESULTS_LIMIT}, default 20", minimum=0, maximum=MAX_RESULTS_LIMIT, pattern=None)
SKIP = query("Entries to skip on the first page", minimum=0, maximum=MAX_SKIP, pattern=None)
NEXT_TOKEN = query("From the previous page's answer")


def _skip(value: int | None) -> int:
    if value is not None and not 0 <= value <= MAX_SKIP:
        raise ApiError("InvalidParam.Skip", f"skip must be between 0 and {MAX_SKIP}, got {value}.", field="skip")
    return value or 0


@router.post(
    "/apimcpserver",
    operation_id="CreateApiMcpServer",
    summary="Create an MCP server",
    response=_responses(CreateApiMcpServerResponse),
    by_alias=True,
)
def create_api_mcp_server(request: HttpRequest, payload: CreateApiMcpServerBody) -> dict[str, Any]:
    principal = authorize(request, "CreateApiMcpServer", server_resource(principal_account(request)))
    data = payload.model_dump(exclude_unset=True, by_alias=True)
    token = check_client_token(data.pop("clientToken", None))

    def work() -> dict[str, Any]:
        server = server_create(account=principal.user.account, user=principal.user, body=payload)  # type: ignore[arg-type]
        return {"id": server.id, "urls": server_urls(server), "warnings": server_warnings(server)}

    body = run_idempotent(
        account_id=principal.account_id, operation="CreateApiMcpServer", client_token=token, payload=data, work=work
    )
    request._management_server_id = body["id"]  # type: ignore[attr-defined]  # for the audit event
    return ok(request, body)


@router.patch(
    "/apimcpserver",
    operation_id="UpdateApiMcpServer",
    summary="Update an MCP server (omitted fields unchanged, lists replaced)",
    response=_responses(UpdateApiMcpServerResponse),
    by_alias=True,
)
def update_api_mcp_server(
    request: HttpRequest,
    payload: UpdateApiMcpServerBody,
    id: str = SERVER_ID,
    clientToken: str | None = CLIENT_TOKEN,
) -> dict[str, Any]:
    server_id = _required_id(id)
    principal = authorize(request, "UpdateApiMcpServer", server_resource(principal_account(request), server_id))
    token = check_client_token(clientToken)
    data = payload.model_dump(exclude_unset=True, by_alias=True)

    def work() -> dict[str, Any]:
        server = server_get_for_user(user=principal.user, server_id=server_id)
        return {"warnings": server_warnings(server_update(server=server, body=payload))}

    body = run_idempotent(
        account_id=principal.account_id,
        operation="UpdateApiMcpServer",
        client_token=token,
        payload={"id": server_id, "body": data},
        work=work,
    )
    return ok(request, body)


@router.get(
    "/apimcpserver",
    operation_id="GetApiMcpServer",
    summary="Get an MCP server",
    response=_responses(GetApiMcpServerResponse),
    by_alias=True,
)
def get_api_mcp_server(request: HttpRequest, id: str = SERVER_ID) -> dict[str, Any]:
    server_id = _required_id(id)
    principal = authorize(request, "GetApiMcpServer", server_resource(principal_account(request), server_id))
    return ok(request, server_to_dict(server_get_for_user(user=principal.user, server_id=server_id)))


@router.delete(
    "/apimcpserver",
    operation_id="DeleteApiMcpServer",
    summary="Delete an MCP server",
    response=_responses(RequestIdResponse),
    by_alias=True,
)
def delete_api_mcp_server(
    request: HttpRequest, id: str = SERVER_ID, clientToken: str | None = CLIENT_TOKEN
) -> dict[str, Any]:
    server_id = _required_id(id)
    principal = authorize(request, "DeleteApiMcpServer", server_resource(principal_account(request), server_id))
    token = check_client_token(clientToken)

    def work() -> dict[str, Any]:
        server_delete(server=server_get_for_user(user=principal.user, server_id=server_id))
        return {}

    run_idempotent(
        account_id=principal.account_id,
        operation="DeleteApiMcpServer",
        client_token=token,
        payload={"id": server_id},
        work=work,
    )
    return ok(request, {})


@router.get(
    "/apimcpservers",
    operation_id="ListApiMcpServers",
    summary="List MCP servers (newest first)",
    response=_responses(ListApiMcpServersResponse),
    by_alias=True,
    exclude_none=True,
)
def list_api_mcp_servers(
    request: HttpRequest,
    id: str | None = query("Only the server with this id"),  # noqa: B008
    nextToken: str | None = NEXT_TOKEN,
    maxResults: int | None = MAX_RESULTS,
    skip: int | None = SKIP,
    description: str | None = query("Servers whose description contains this"),  # noqa: B008
    language: str | None = query("Servers of this language", enum=list(LANGUAGES)),  # noqa: B008
    createTime: str | None = query("Created at or after (ISO-8601)", format="date-time"),  # noqa: B008
    updateTime: str | None = query("Updated at or after (ISO-8601)", format="date-time"),  # noqa: B008
    sourceType: str | None = query("custom or system", enum=list(SOURCE_TYPES)),  # noqa: B008
    keyword: str | None = query("Fuzzy name or exact id"),  # noqa: B008
) -> dict[str, Any]:
    principal = authorize(request, "ListApiMcpServers", server_resource(principal_account(request)))
    limit = _max_results(maxResults)
    if language and language not in LANGUAGES:
        raise ApiError("InvalidParam.Language", f"Unsupported language: {language}.", field="language")
    if sourceType and sourceType not in SOURCE_TYPES:
        raise ApiError("InvalidParam.SourceType", f"Unsupported sourceType: {sourceType} (custom or system).")
    filters = {
        "id": id,
        "description": description,
        "language": language,
        "createTime": createTime,
        "updateTime": updateTime,
        "sourceType": sourceType,
        "keyword": keyword,
    }
    page = server_page(
        account_id=principal.account_id,
        filters=filters,
        max_results=limit,
        next_token=nextToken or None,
        skip=_skip(skip),
    )
    return ok(
        request,
        {
            "nextToken": page.next_token,
            "totalCount": page.total_count,
            "maxResults": limit,
            "apiMcpServers": [server_to_dict(s, include_resolved=False) for s in page.servers],
        },
    )


@router.get(
    "/mcpSystemTools",
    operation_id="ListApiMcpServerSystemTools",
    summary="List the system tools a server can enable",
    response=_responses(ListApiMcpServerSystemToolsResponse),
    by_alias=True,
    exclude_none=True,
)
def list_api_mcp_server_system_tools(
    request: HttpRequest,
    maxResults: int | None = MAX_RESULTS,
    skip: int | None = SKIP,
    nextToken: str | None = NEXT_TOKEN,
) -> dict[str, Any]:
    account_id = principal_account(request)
    authorize(request, "ListApiMcpServerSystemTools", account_resource(account_id, "mcpsystemtool/*"))
    limit = _max_results(maxResults)
    start = offset_from_token(nextToken, "system-tools") if nextToken else _skip(skip)
    items = SYSTEM_TOOLS[start : start + limit]
    more = start + limit < len(SYSTEM_TOOLS) and limit > 0
    return ok(
        request,
        {
            "nextToken": offset_page_token(start + limit, "system-tools") if more else None,
            "maxResults": limit,
            "totalCount": len(SYSTEM_TOOLS),
            "systemTools": [{"name": t.name, "description": t.description} for t in items],
        },
    )


@router.get(
    "/userconfig/get",
    operation_id="GetApiMcpServerUserConfig",
    summary="Get the account-level MCP server settings",
    response=_responses(GetApiMcpServerUserConfigResponse),
    by_alias=True,
)
def get_api_mcp_server_user_config(request: HttpRequest) -> dict[str, Any]:
    principal = authorize(
        request, "GetApiMcpServerUserConfig", account_resource(principal_account(request), "userconfig")
    )
    account = principal.user.account
    assert account is not None  # the gate refuses users without an account
    return ok(
        request,
        {
            "accountId": str(account.pk),
            "enablePublicAccess": account.enable_public_access,
            "vpcWhitelists": account.vpc_whitelists,
            "gmtCreate": iso_utc(account.created_at),
            "gmtModified": iso_utc(account.updated_at),
        },
    )


@router.patch(
    "/userconfig/update",
    operation_id="UpdateApiMcpServerUserConfig",
    summary="Update the account-level MCP server settings",
    response=_responses(RequestIdResponse),
    by_alias=True,
)
def update_api_mcp_server_user_config(
    request: HttpRequest, payload: UpdateApiMcpServerUserConfigBody
) -> dict[str, Any]:
    principal = authorize(
        request, "UpdateApiMcpServerUserConfig", account_resource(principal_account(request), "userconfig")
    )
    account = principal.user.account
    assert account is not None
    user_config_update(account=account, body=payload)
    return ok(request, {})
