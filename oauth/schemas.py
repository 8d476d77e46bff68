"""Wire shapes of the management API's oauth extensions: connections (`oauth/connection_api.py`).

The pydantic models are strict (unknown fields and wrong types are refused before any service
runs); their JSON Schema keywords document what `oauth.services.connection_set` accepts, and the
limits below are the ones that service enforces, so the document and the service cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oauth.models import Connection
from servers.catalog.naming import PRODUCT_CODE_PATTERN
from servers.schemas import LINE_RE, NO_NUL_RE, NOT_BLANK_RE, anchored

REGION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # always fullmatch: `$` passes "x\n"
HEADER_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")  # an HTTP token (RFC 9110)
MAX_URL_LENGTH = 500  # Connection.base_url
MAX_REGIONS = 200
MIN_TIMEOUT_SECONDS = 0.1
MAX_TIMEOUT_SECONDS = 600.0
MAX_SECRET_LENGTH = 8192
MAX_CONFIG_LENGTH = 1000

# Model keys (snake_case, as stored and as `runtime/upstream.py` reads them) → wire names.
CONFIG_WIRE = {
    "access_key_id": "accessKeyId",
    "name": "name",
    "in": "in",
    "prefix": "prefix",
    "username": "username",
    "token_url": "tokenUrl",
    "client_id": "clientId",
    "scope": "scope",
    "client_auth": "clientAuth",
}
SECRET_WIRE = {
    "access_key_secret": "accessKeySecret",
    "security_token": "securityToken",
    "api_key": "apiKey",
    "token": "token",
    "password": "password",
    "client_secret": "clientSecret",
}


@dataclass(frozen=True)
class AuthSpec:
    """What one auth type uses. `identity`: config keys naming the credential its secrets belong to."""

    config: tuple[str, ...] = ()
    required_config: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    required_secrets: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    identity: tuple[str, ...] = ()


AUTH_SPECS: dict[str, AuthSpec] = {
    Connection.AUTH_NONE: AuthSpec(),
    Connection.AUTH_ALIBABA_AK: AuthSpec(
        config=("access_key_id",),
        required_config=("access_key_id",),
        secrets=("access_key_secret", "security_token"),
        required_secrets=("access_key_secret",),
        identity=("access_key_id",),
    ),
    Connection.AUTH_API_KEY: AuthSpec(
        config=("name", "in", "prefix"),
        secrets=("api_key",),
        required_secrets=("api_key",),
        defaults={"name": "X-Api-Key", "in": "header", "prefix": ""},
    ),
    Connection.AUTH_BEARER: AuthSpec(secrets=("token",), required_secrets=("token",)),
    Connection.AUTH_BASIC: AuthSpec(
        config=("username",), required_config=("username",), secrets=("password",), identity=("username",)
    ),
    Connection.AUTH_OAUTH2_CC: AuthSpec(
        config=("token_url", "client_id", "scope", "client_auth"),
        required_config=("token_url", "client_id"),
        secrets=("client_secret",),
        required_secrets=("client_secret",),
        defaults={"scope": "", "client_auth": "basic"},
        identity=("token_url", "client_id"),
    ),
}


def _by_auth_type(schema: dict[str, Any]) -> None:
    """The body's document: `required`, and one branch per auth type (`AUTH_SPECS`) naming the
    settings and secrets it needs (not blank), and those it does not use (absent or empty)."""
    schema["required"] = ["product", "authType"]
    branches = []
    for auth_type, spec in AUTH_SPECS.items():
        config = _parts(CONFIG_WIRE, spec.config, spec.required_config, strip=True)
        secrets = _parts(SECRET_WIRE, spec.secrets, spec.required_secrets, strip=False)
        branch: dict[str, Any] = {
            "properties": {"authType": {"const": auth_type}, "authConfig": config, "secrets": secrets}
        }
        needed = [name for name, part in (("authConfig", config), ("secrets", secrets)) if part.get("required")]
        if needed:
            branch["required"] = needed
        branches.append(branch)
    schema["oneOf"] = branches


def _parts(wire: Mapping[str, str], used: tuple[str, ...], required: tuple[str, ...], *, strip: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: ({"minLength": 1, "pattern": NOT_BLANK_RE} if strip else {"minLength": 1})
        if key in required
        else ({} if key in used else {"const": ""})
        for key, name in wire.items()
    }
    part: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        part["required"] = [wire[key] for key in required]
    return part


def optional(description: str = "", alias: str | None = None, **schema: Any) -> Any:
    """Optional; `schema`: JSON Schema keywords for the OpenAPI document only (the service validates)."""
    return Field(default=None, description=description, alias=alias, json_schema_extra=schema or None)


# Document-only shapes of what `oauth.services.connection_set` accepts.
_PORT = "([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LINE: dict[str, Any] = {"maxLength": MAX_CONFIG_LENGTH, "pattern": LINE_RE}
_SECRET: dict[str, Any] = {"maxLength": MAX_SECRET_LENGTH, "pattern": LINE_RE}
_URL: dict[str, Any] = {
    "maxLength": MAX_URL_LENGTH,
    # Declared stricter than checked: a host name or IPv4 address (no [IPv6] literal), a port of 0-65535.
    "pattern": r"^ *https?://[^\s\x00-\x1f\x7f/?#@\[\]:]+(:" + _PORT + r")?(/[^\s\x00-\x1f\x7f?#]*)? *$",
}
_TIMEOUT: dict[str, Any] = {"minimum": MIN_TIMEOUT_SECONDS, "maximum": MAX_TIMEOUT_SECONDS}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AuthConfigIn(_Input):
    """Non-secret settings; which ones apply depends on authType."""

    accessKeyId: str = optional("alibaba_ak", maxLength=128, pattern=r"^[^\s\x00-\x1f\x7f\x85]*$")
    name: str = optional(
        "api_key: header or query parameter name (default X-Api-Key)",
        maxLength=128,
        pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]*$",
    )
    in_: str = optional("api_key: header (default) or query", alias="in", enum=["header", "query"])
    prefix: str = optional('api_key: text before the key, e.g. "Token "', **_LINE)
    username: str = optional("basic", maxLength=MAX_CONFIG_LENGTH, pattern=r"^[^:\x00-\x1f\x7f]*$")
    tokenUrl: str = optional("oauth2_client_credentials", **_URL)
    clientId: str = optional("oauth2_client_credentials", **_LINE)
    scope: str = optional("oauth2_client_credentials", **_LINE)
    clientAuth: str = optional("oauth2_client_credentials: basic (default) or post", enum=["basic", "post"])


class SecretsIn(_Input):
    """Write-only. An absent or empty secret keeps the stored one (same credential only)."""

    accessKeySecret: str = optional("alibaba_ak", **_SECRET)
    securityToken: str = optional("alibaba_ak, temporary (STS) credentials", **_SECRET)
    apiKey: str = optional("api_key", **_SECRET)
    token: str = optional("bearer", **_SECRET)
    password: str = optional("basic", **_SECRET)
    clientSecret: str = optional("oauth2_client_credentials", **_SECRET)


class SetConnectionBody(_Input):
    # Required, but checked by the service so that its absence is Missing.Product (the shared
    # validation-error mapping would call it Missing.PopCode, Alibaba's name for a server's API product).
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_by_auth_type)

    product: str = optional(
        "Required. Product code (1-64 of A-Z a-z 0-9 _ . -, starting with a letter)",
        pattern=r"^\s*" + PRODUCT_CODE_PATTERN + r"\s*$",
    )
    userName: str = optional(
        "A user of the account: a connection for that user only (default: the whole account)",
        maxLength=150,
        pattern=NO_NUL_RE,
    )
    authType: str = Field(
        description="none, alibaba_ak, api_key, bearer, basic or oauth2_client_credentials",
        json_schema_extra={"enum": [name for name, _ in Connection.AUTH_TYPES]},
    )
    baseUrl: str = optional(
        "http(s) URL overriding every endpoint of the product; link-local and metadata hosts are refused, "
        "loopback and private ones unless UPSTREAM_ALLOW_PRIVATE_URLS",
        **_URL,
    )
    regionEndpoints: dict[str, str] = optional(
        '{"cn-hangzhou": "https://…"}',
        maxProperties=MAX_REGIONS,
        propertyNames={"pattern": anchored(REGION_RE.pattern)},
        additionalProperties={"type": "string", **_URL},
    )
    defaultRegion: str = optional(pattern=f"^({REGION_RE.pattern})?$")
    authConfig: AuthConfigIn = optional()
    secrets: SecretsIn = optional()
    connectTimeout: float = optional(f"Seconds, {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g}", **_TIMEOUT)
    readTimeout: float = optional(f"Seconds, {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g}", **_TIMEOUT)


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
