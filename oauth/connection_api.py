"""Connections in the management API: an extension of this product, not part of OpenAPIExplorer 2024-11-30.

`GET /connections`, `GET /connection?id=`, `PUT /connection` (create or replace, keyed by product
and userName) and `DELETE /connection?id=`; actions `openapiexplorer:ListConnections`,
`GetConnection`, `SetConnection` and `DeleteConnection` on
`acs:openapiexplorer::<accountId>:connection/<product>` (`…/*` for the list). Same gate, errors and
strict bodies as the rest of the API. Secrets are write-only: answers list the names of the
secrets that are set (`secretsSet`), never their values.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from oauth import access
from oauth.schemas import (
    CONFIG_WIRE,
    SECRET_WIRE,
    GetConnectionResponse,
    ListConnectionsResponse,
    RequestIdResponse,
    SetConnectionBody,
    SetConnectionResponse,
)
from oauth.selectors import account_user, connection_get, connection_to_dict, connections_for_account
from oauth.services import connection_delete, connection_set
from servers.api.common import authorize, ok, principal_account, query
from servers.schemas import ErrorResponse

router = Router(tags=["Connections (extension)"])
ERRORS = {frozenset({400, 401, 403, 404}): ErrorResponse, 500: ErrorResponse}
_CONFIG_KEYS = {wire: key for key, wire in CONFIG_WIRE.items()}
_SECRET_KEYS = {wire: key for key, wire in SECRET_WIRE.items()}


CONNECTION_ID = query("The connection's id", required=True, minLength=1)


def _responses(success: Any) -> dict[Any, Any]:
    return {200: success, **ERRORS}


@router.get(
    "/connections",
    operation_id="ListConnections",
    summary="List the account's connections (extension)",
    response=_responses(ListConnectionsResponse),
)
def list_connections(request: HttpRequest) -> dict[str, Any]:
    authorize(request, "ListConnections", access.connection_resource(principal_account(request)))
    items = [connection_to_dict(c) for c in connections_for_account(principal_account(request))]
    return ok(request, {"totalCount": len(items), "connections": items})


@router.get(
    "/connection",
    operation_id="GetConnection",
    summary="Get a connection, without its secrets (extension)",
    response=_responses(GetConnectionResponse),
)
def get_connection(request: HttpRequest, id: str | None = CONNECTION_ID) -> dict[str, Any]:
    connection = connection_get(principal_account(request), id)
    authorize(request, "GetConnection", access.connection_resource(principal_account(request), connection.product))
    return ok(request, connection_to_dict(connection))


@router.put(
    "/connection",
    operation_id="SetConnection",
    summary="Create or replace a connection (extension)",
    response=_responses(SetConnectionResponse),
)
def set_connection(request: HttpRequest, payload: SetConnectionBody) -> dict[str, Any]:
    body = payload.model_dump(exclude_unset=True, by_alias=True)
    product = body.get("product", "")
    principal = authorize(
        request, "SetConnection", access.connection_resource(principal_account(request), product.strip())
    )
    user = account_user(principal.account_id, body["userName"]) if body.get("userName") else None
    connection, created = connection_set(
        account=principal.user.account,  # type: ignore[arg-type]
        user=user,
        product=product,
        auth_type=body["authType"],
        base_url=body.get("baseUrl", ""),
        region_endpoints=body.get("regionEndpoints"),
        default_region=body.get("defaultRegion", ""),
        config={_CONFIG_KEYS[k]: v for k, v in (body.get("authConfig") or {}).items()},
        secrets={_SECRET_KEYS[k]: v for k, v in (body.get("secrets") or {}).items()},
        connect_timeout=body.get("connectTimeout"),
        read_timeout=body.get("readTimeout"),
    )
    return ok(request, {**connection_to_dict(connection), "created": created})


@router.delete(
    "/connection",
    operation_id="DeleteConnection",
    summary="Delete a connection (extension)",
    response=_responses(RequestIdResponse),
)
def delete_connection(request: HttpRequest, id: str | None = CONNECTION_ID) -> dict[str, Any]:
    connection = connection_get(principal_account(request), id)
    authorize(request, "DeleteConnection", access.connection_resource(principal_account(request), connection.product))
    connection_delete(connection=connection)
    return ok(request, {})
