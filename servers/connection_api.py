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
from pydantic import BaseModel, ConfigDict, Field

from runtime.connections import (
    AUTH_SPECS,
    CONFIG_WIRE,
    MAX_CONFIG_LENGTH,
    MAX_REGIONS,
    MAX_SECRET_LENGTH,
    MAX_TIMEOUT_SECONDS,
    MAX_URL_LENGTH,
    MIN_TIMEOUT_SECONDS,
    REGION_RE,
    SECRET_WIRE,
    account_user,
    connection_delete,
    connection_get,
    connection_set,
    connections_for_account,
    policy_resource,
    secret_names,
)
from runtime.models import Connection
from servers.api.common import authorize, ok
from servers.catalog.naming import PRODUCT_CODE_PATTERN
from servers.schemas import LINE_RE, ErrorResponse, anchored
from servers.selectors import iso_utc

router = Router(tags=["Connections (extension)"])
ERRORS = {frozenset({400, 401, 403, 404}): ErrorResponse, 500: ErrorResponse}
_CONFIG_KEYS = {wire: key for key, wire in CONFIG_WIRE.items()}
_SECRET_KEYS = {wire: key for key, wire in SECRET_WIRE.items()}


def _opt(description: str = "", alias: str | None = None, **schema: Any) -> Any:
    """Optional; `schema`: JSON Schema keywords for the OpenAPI document only (the service validates)."""
    return Field(default=None, description=description, alias=alias, json_schema_extra=schema or None)


# Document-only shapes of what `runtime.connections` accepts.
_LINE: dict[str, Any] = {"maxLength": MAX_CONFIG_LENGTH, "pattern": LINE_RE}
_SECRET: dict[str, Any] = {"maxLength": MAX_SECRET_LENGTH, "pattern": LINE_RE}
_URL: dict[str, Any] = {
    "maxLength": MAX_URL_LENGTH,
    "pattern": r"^\s*https?://[^\s\x00-\x1f\x7f/?#@]+(/[^\s\x00-\x1f\x7f?#]*)?\s*$",
}
_TIMEOUT: dict[str, Any] = {"minimum": MIN_TIMEOUT_SECONDS, "maximum": MAX_TIMEOUT_SECONDS}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AuthConfigIn(_Input):
    """Non-secret settings; which ones apply depends on authType."""

    accessKeyId: str = _opt("alibaba_ak", maxLength=128, pattern=r"^\S*$")
    name: str = _opt(
        "api_key: header or query parameter name (default X-Api-Key)",
        maxLength=128,
        pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]*$",
    )
    in_: str = _opt("api_key: header (default) or query", alias="in", enum=["header", "query"])
    prefix: str = _opt('api_key: text before the key, e.g. "Token "', **_LINE)
    username: str = _opt("basic", maxLength=MAX_CONFIG_LENGTH, pattern=r"^[^:\x00-\x1f\x7f]*$")
    tokenUrl: str = _opt("oauth2_client_credentials", **_URL)
    clientId: str = _opt("oauth2_client_credentials", **_LINE)
    scope: str = _opt("oauth2_client_credentials", **_LINE)
    clientAuth: str = _opt("oauth2_client_credentials: basic (default) or post", enum=["basic", "post"])


class SecretsIn(_Input):
    """Write-only. An absent or empty secret keeps the stored one (same credential only)."""

    accessKeySecret: str = _opt("alibaba_ak", **_SECRET)
    securityToken: str = _opt("alibaba_ak, temporary (STS) credentials", **_SECRET)
    apiKey: str = _opt("api_key", **_SECRET)
    token: str = _opt("bearer", **_SECRET)
    password: str = _opt("basic", **_SECRET)
    clientSecret: str = _opt("oauth2_client_credentials", **_SECRET)


class SetConnectionBody(_Input):
    # Required, but checked by the service so that its absence is Missing.Product (the shared
    # validation-error mapping would call it Missing.PopCode, Alibaba's name for a server's API product).
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"required": ["product", "authType"]})

    product: str = _opt(
        "Required. Product code (1-64 of A-Z a-z 0-9 _ . -, starting with a letter)",
        pattern=r"^\s*" + PRODUCT_CODE_PATTERN + r"\s*$",
    )
    userName: str = _opt(
        "A user of the account: a connection for that user only (default: the whole account)", maxLength=150
    )
    authType: str = Field(
        description="none, alibaba_ak, api_key, bearer, basic or oauth2_client_credentials",
        json_schema_extra={"enum": list(AUTH_SPECS)},
    )
    baseUrl: str = _opt(
        "http(s) URL overriding every endpoint of the product; link-local and metadata hosts are refused, "
        "loopback and private ones unless UPSTREAM_ALLOW_PRIVATE_URLS",
        **_URL,
    )
    regionEndpoints: dict[str, str] = _opt(
        '{"cn-hangzhou": "https://…"}',
        maxProperties=MAX_REGIONS,
        propertyNames={"pattern": anchored(REGION_RE.pattern)},
        additionalProperties={"type": "string", **_URL},
    )
    defaultRegion: str = _opt(pattern=f"^({REGION_RE.pattern})?$")
    authConfig: AuthConfigIn = _opt()
    secrets: SecretsIn = _opt()
    connectTimeout: float = _opt(f"Seconds, {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g}", **_TIMEOUT)
    readTimeout: float = _opt(f"Seconds, {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g}", **_TIMEOUT)


class ConnectionOut(BaseModel):
    id: int
    product: str
    userName: str = Field(description="Empty for an account-wide connection")
    authType: str
    baseUrl: str
    regionEndpoints: dict[str, str]
    defaultRegion: str
    authConfig: dict[str, str]
    secretsSet: list[str] = Field(description="Names of the secrets that are set; values are never returned")
    connectTimeout: float | None
    readTimeout: float | None
    createTime: str
    updateTime: str


class GetConnectionResponse(ConnectionOut):
    requestId: str


class SetConnectionResponse(ConnectionOut):
    requestId: str
    created: bool


class ListConnectionsResponse(BaseModel):
    requestId: str
    totalCount: int
    connections: list[ConnectionOut]


class RequestIdResponse(BaseModel):
    requestId: str


def connection_to_dict(connection: Connection) -> dict[str, Any]:
    """The wire form of a connection, without any secret value."""
    return {
        "id": connection.pk,
        "product": connection.product,
        "userName": connection.user.username if connection.user else "",
        "authType": connection.auth_type,
        "baseUrl": connection.base_url,
        "regionEndpoints": dict(connection.region_endpoints or {}),
        "defaultRegion": connection.default_region,
        "authConfig": {CONFIG_WIRE.get(k, k): str(v) for k, v in (connection.auth_config or {}).items()},
        "secretsSet": secret_names(connection),
        "connectTimeout": connection.connect_timeout,
        "readTimeout": connection.read_timeout,
        "createTime": iso_utc(connection.created_at),
        "updateTime": iso_utc(connection.updated_at),
    }


def _account(request: HttpRequest) -> str:
    return str(request.auth.account_id)  # type: ignore[attr-defined]


def _responses(success: Any) -> dict[Any, Any]:
    return {200: success, **ERRORS}


@router.get(
    "/connections",
    operation_id="ListConnections",
    summary="List the account's connections (extension)",
    response=_responses(ListConnectionsResponse),
)
def list_connections(request: HttpRequest) -> dict[str, Any]:
    authorize(request, "ListConnections", policy_resource(_account(request)))
    items = [connection_to_dict(c) for c in connections_for_account(_account(request))]
    return ok(request, {"totalCount": len(items), "connections": items})


@router.get(
    "/connection",
    operation_id="GetConnection",
    summary="Get a connection, without its secrets (extension)",
    response=_responses(GetConnectionResponse),
)
def get_connection(request: HttpRequest, id: str | None = None) -> dict[str, Any]:
    connection = connection_get(_account(request), id)
    authorize(request, "GetConnection", policy_resource(_account(request), connection.product))
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
    principal = authorize(request, "SetConnection", policy_resource(_account(request), product.strip()))
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
def delete_connection(request: HttpRequest, id: str | None = None) -> dict[str, Any]:
    connection = connection_get(_account(request), id)
    authorize(request, "DeleteConnection", policy_resource(_account(request), connection.product))
    connection_delete(connection=connection)
    return ok(request, {})
