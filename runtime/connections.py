"""Writes and reads of connections: how an account, or one of its users, reaches a product.

The console, the management API and `manage.py set_connection` all write through
`connection_set` / `connection_delete`, which validate everything and raise
`servers.errors.ApiError` with a stable code and the wire name of the field at fault (`baseUrl`,
`authConfig.tokenUrl`, `secrets.apiKey`…), so every door refuses the same input the same way.

Secrets are write-only: reads say which secret names are set (`secret_names`), never their values.
On update an empty secret keeps the stored one, as long as it still belongs to the same
credential (same auth type and the same key id, client id, token URL or user name).

The MCP runtime never calls this module: it reads connections through `runtime/data.py` and drops
its cached copies on the `connection` event that `runtime/signals.py` publishes after each commit.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Lower

from oauth.models import Account, User
from runtime.models import Connection
from servers.catalog.naming import PRODUCT_CODE_RE
from servers.errors import ApiError
from servers.outbound import UPSTREAM_SETTING, host_refusal

logger = logging.getLogger(__name__)

AUTH_LABELS = dict(Connection.AUTH_TYPES)
REGION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # always fullmatch: `$` passes "x\n"
HEADER_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")  # an HTTP token (RFC 9110)
MAX_URL_LENGTH = 500  # Connection.base_url
MAX_REGIONS = 200
MIN_TIMEOUT_SECONDS = 0.1
MAX_TIMEOUT_SECONDS = 600.0
PRIVATE_SETTING = UPSTREAM_SETTING
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
_CHOICES = {"in": ("header", "query"), "client_auth": ("basic", "post")}


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


def _cap(wire: str) -> str:
    return wire[:1].upper() + wire[1:]


def _config_error(kind: str, key: str, message: str) -> ApiError:
    wire = CONFIG_WIRE[key]
    return ApiError(f"{kind}.AuthConfig.{_cap(wire)}", message, field=f"authConfig.{wire}")


def _secret_error(kind: str, key: str, message: str) -> ApiError:
    wire = SECRET_WIRE[key]
    return ApiError(f"{kind}.Secrets.{_cap(wire)}", message, field=f"secrets.{wire}")


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


# Validation ---------------------------------------------------------------------------------------


def _product(product: str) -> str:
    product = (product or "").strip()
    if not product:
        raise ApiError("Missing.Product", "product is mandatory for this action.", field="product")
    if not PRODUCT_CODE_RE.fullmatch(product):
        raise ApiError(
            "InvalidParam.Product",
            f"product must be a product code of 1-64 characters (A-Z a-z 0-9 _ . -) starting with a letter, "
            f"such as Ecs or GitHub; got {product[:80]!r}.",
            field="product",
        )
    return product


def _auth_type(auth_type: str) -> AuthSpec:
    if not auth_type:
        raise ApiError("Missing.AuthType", "authType is mandatory for this action.", field="authType")
    spec = AUTH_SPECS.get(auth_type)
    if spec is None:
        raise ApiError(
            "InvalidParam.AuthType",
            f"Unsupported authType: {auth_type[:80]}; use one of {', '.join(AUTH_SPECS)}.",
            field="authType",
        )
    return spec


def http_url(value: str, *, code: str, field: str, name: str) -> str:
    """`value` stripped, if it is an absolute http(s) URL with a host and nothing after the path.

    The host, as written, must be one that upstream requests may reach (`servers.outbound`:
    never link-local or metadata addresses; loopback and private ones only with
    UPSTREAM_ALLOW_PRIVATE_URLS). A host name is checked again, once resolved, when it is called.
    """
    value = (value or "").strip()
    example = "e.g. https://api.example.com/v1"
    if len(value) > MAX_URL_LENGTH:
        raise ApiError(code, f"{name} must be at most {MAX_URL_LENGTH} characters.", field=field)
    if _has_control(value) or " " in value:
        raise ApiError(code, f"{name} must be a URL without spaces or control characters.", field=field)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ApiError(code, f"{name} is not a valid URL ({example}).", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(
            code, f"{name} must be an http:// or https:// URL with a host ({example}); got {value[:80]!r}.", field=field
        )
    if parts.username is not None or parts.password is not None:
        # Never echo the value: it holds credentials, which belong in the connection's secrets.
        raise ApiError(
            code, f"{name} must not contain a user name or password; use the connection's secrets.", field=field
        )
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ApiError(code, f"{name} must not have a query string or fragment.", field=field)
    problem = host_refusal(parts.hostname, allow_private=settings.UPSTREAM_ALLOW_PRIVATE_URLS, setting=PRIVATE_SETTING)
    if problem:
        raise ApiError(code, f"{name} is refused: {problem}.", field=field)
    return value


def _base_url(base_url: str) -> str:
    if not (base_url or "").strip():
        return ""
    return http_url(base_url, code="InvalidParam.BaseUrl", field="baseUrl", name="baseUrl")


def _region(value: Any, *, code: str, field: str, name: str) -> str:
    if not isinstance(value, str) or not REGION_RE.fullmatch(value):
        raise ApiError(
            code,
            f"{name} must be a region id of 1-64 characters (A-Z a-z 0-9 _ . -), such as cn-hangzhou; "
            f"got {str(value)[:80]!r}.",
            field=field,
        )
    return value


def _region_endpoints(region_endpoints: Mapping[str, str] | None) -> dict[str, str]:
    if not region_endpoints:
        return {}
    if not isinstance(region_endpoints, Mapping):
        raise ApiError(
            "InvalidParam.RegionEndpoints",
            "regionEndpoints must be an object of region id → URL.",
            field="regionEndpoints",
        )
    if len(region_endpoints) > MAX_REGIONS:
        raise ApiError(
            "InvalidParam.RegionEndpoints",
            f"regionEndpoints may name at most {MAX_REGIONS} regions.",
            field="regionEndpoints",
        )
    out: dict[str, str] = {}
    for region, url in region_endpoints.items():
        _region(
            region, code="InvalidParam.RegionEndpoints", field="regionEndpoints", name="Each key of regionEndpoints"
        )
        name = f"regionEndpoints[{region!r}]"
        if not isinstance(url, str):
            raise ApiError("InvalidParam.RegionEndpoints", f"{name} must be a string.", field="regionEndpoints")
        out[region] = http_url(url, code="InvalidParam.RegionEndpoints", field="regionEndpoints", name=name)
    return out


def _default_region(default_region: str) -> str:
    if not default_region:
        return ""
    return _region(default_region, code="InvalidParam.DefaultRegion", field="defaultRegion", name="defaultRegion")


def _config_value(key: str, value: str) -> str:
    wire = f"authConfig.{CONFIG_WIRE[key]}"
    if key == "token_url":
        return http_url(value, code="InvalidParam.AuthConfig.TokenUrl", field=wire, name=wire)
    if len(value) > MAX_CONFIG_LENGTH or _has_control(value):
        raise _config_error("InvalidParam", key, f"{wire} must be one line of at most {MAX_CONFIG_LENGTH} characters.")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise _config_error("InvalidParam", key, f"{wire} must be one of {', '.join(_CHOICES[key])}; got {value!r}.")
    if key == "name" and not HEADER_NAME_RE.fullmatch(value):
        raise _config_error(
            "InvalidParam", key, f"{wire} must be a header or query parameter name such as X-Api-Key; got {value!r}."
        )
    if key == "access_key_id" and not re.fullmatch(r"\S{1,128}", value):
        raise _config_error("InvalidParam", key, f"{wire} must be 1-128 characters without spaces.")
    if key == "username" and ":" in value:
        raise _config_error("InvalidParam", key, f"{wire} must not contain a colon (HTTP basic authentication).")
    return value


def _config(spec: AuthSpec, auth_type: str, config: Mapping[str, Any] | None) -> dict[str, str]:
    given = dict(config or {})
    out: dict[str, str] = {}
    for key, value in given.items():
        if key not in CONFIG_WIRE:
            raise ApiError("InvalidParam.UnknownField", f"Unknown parameter: authConfig.{key}.", field="authConfig")
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _config_error("InvalidParam", key, f"authConfig.{CONFIG_WIRE[key]} must be a string.")
        if key not in spec.config:
            raise _config_error(
                "InvalidParam", key, f"authConfig.{CONFIG_WIRE[key]} is not used by auth type {auth_type}."
            )
        out[key] = _config_value(key, value if key == "prefix" else value.strip())
    for key in spec.required_config:
        if not out.get(key):
            raise _config_error(
                "Missing", key, f"authConfig.{CONFIG_WIRE[key]} is mandatory for auth type {auth_type}."
            )
    return {key: out.get(key, spec.defaults.get(key, "")) for key in spec.config}


def _secrets(spec: AuthSpec, auth_type: str, secrets: Mapping[str, Any] | None) -> dict[str, str]:
    """The secrets given (non-empty values only: an empty one means "keep the stored value")."""
    out: dict[str, str] = {}
    for key, value in dict(secrets or {}).items():
        if key not in SECRET_WIRE:
            raise ApiError("InvalidParam.UnknownField", f"Unknown parameter: secrets.{key}.", field="secrets")
        wire = f"secrets.{SECRET_WIRE[key]}"
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _secret_error("InvalidParam", key, f"{wire} must be a string.")
        if key not in spec.secrets:
            raise _secret_error("InvalidParam", key, f"{wire} is not used by auth type {auth_type}.")
        if len(value) > MAX_SECRET_LENGTH or _has_control(value):
            raise _secret_error(
                "InvalidParam", key, f"{wire} must be one line of at most {MAX_SECRET_LENGTH} characters."
            )
        out[key] = value
    return out


def _timeout(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    code = f"InvalidParam.{_cap(name)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(code, f"{name} must be a number of seconds.", field=name)
    if not math.isfinite(value) or not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:
        raise ApiError(
            code,
            f"{name} must be between {MIN_TIMEOUT_SECONDS:g} and {MAX_TIMEOUT_SECONDS:g} seconds; got {value:g}.",
            field=name,
        )
    return float(value)


def stored_secrets(connection: Connection) -> dict[str, str]:
    """The connection's decrypted secrets; {} (and a warning in the log) when they cannot be decrypted."""
    try:
        return {str(k): str(v) for k, v in connection.get_secrets().items() if v}
    except (InvalidToken, ValueError):
        logger.warning(
            "the secrets of connection %s cannot be decrypted (FIELD_ENCRYPTION_KEY changed?)", connection.pk
        )
        return {}


def _merged_secrets(
    spec: AuthSpec, auth_type: str, existing: Connection | None, config: dict[str, str], given: dict[str, str]
) -> dict[str, str]:
    kept: dict[str, str] = {}
    if existing is not None and existing.auth_type == auth_type:
        old_config = existing.auth_config or {}
        if all(old_config.get(key, "") == config.get(key, "") for key in spec.identity):
            kept = {k: v for k, v in stored_secrets(existing).items() if k in spec.secrets}
    if "access_key_secret" in given and "security_token" not in given:
        kept.pop("security_token", None)  # an STS token belongs to the key pair it was issued with
    merged = kept | given
    for key in spec.required_secrets:
        if not merged.get(key):
            message = f"secrets.{SECRET_WIRE[key]} is mandatory for auth type {auth_type}"
            if existing is not None and spec.identity:
                names = " and ".join(f"authConfig.{CONFIG_WIRE[k]}" for k in spec.identity)
                message += f" (a stored secret is kept only while {names} stays the same)"
            raise _secret_error("Missing", key, message + ".")
    return merged


# Services ---------------------------------------------------------------------------------------


@transaction.atomic
def connection_set(
    *,
    account: Account,
    user: User | None = None,
    product: str,
    auth_type: str,
    base_url: str = "",
    region_endpoints: Mapping[str, str] | None = None,
    default_region: str = "",
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> tuple[Connection, bool]:
    """Create or replace the connection of `account` (or of its `user`) to `product`.

    Keyed by (account, user, product), the product compared case-insensitively. Every field is
    replaced; `config` and `secrets` use the model's keys (`access_key_id`, `api_key`…). An empty
    or absent secret keeps the stored one while the credential is the same. Returns the connection
    and whether it was created. Raises ApiError (400) naming the field at fault; nothing is written then.
    """
    product = _product(product)
    if user is not None and str(user.account_id) != str(account.pk):
        raise ApiError(
            "InvalidParam.UserName", f"User {user.username} does not belong to account {account.pk}.", field="userName"
        )
    spec = _auth_type(auth_type)
    fields: dict[str, Any] = {
        "base_url": _base_url(base_url),
        "region_endpoints": _region_endpoints(region_endpoints),
        "default_region": _default_region(default_region),
        "auth_type": auth_type,
        "auth_config": _config(spec, auth_type, config),
    }
    given_secrets = _secrets(spec, auth_type, secrets)
    fields["connect_timeout"] = _timeout(connect_timeout, "connectTimeout")
    fields["read_timeout"] = _timeout(read_timeout, "readTimeout")

    # Serialise connection writes per account, so the case-insensitive lookup and the create
    # cannot race (the unique constraints compare the product case-sensitively).
    Account.objects.select_for_update().filter(pk=account.pk).first()
    existing = Connection.objects.filter(account=account, user=user, product__iexact=product).first()
    merged = _merged_secrets(spec, auth_type, existing, fields["auth_config"], given_secrets)
    connection = existing or Connection(account=account, user=user)
    connection.product = product
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.set_secrets(merged)
    connection.save()
    return connection, existing is None


@transaction.atomic
def connection_delete(*, connection: Connection) -> None:
    """Delete a connection; tool calls fall back to the account's connection or the catalog's endpoints."""
    connection.delete()


# Selectors --------------------------------------------------------------------------------------


def connections_for_account(account_id: str) -> QuerySet[Connection]:
    """The account's connections (account-wide and per-user), by product, account-wide first."""
    return (
        Connection.objects.filter(account_id=account_id)
        .select_related("user")
        .order_by(Lower("product"), F("user__username").asc(nulls_first=True), "pk")
    )


def connection_get(account_id: str, pk: int | str | None) -> Connection:
    """The connection `pk` of the account; NotFound.Connection (404) for any other, as if it did not exist."""
    if pk is None or pk == "":
        raise ApiError("Missing.Id", "Id is mandatory for this action.", field="id")
    connection = None
    if str(pk).isdigit() and len(str(pk)) < 19:
        connection = connections_for_account(account_id).filter(pk=int(pk)).first()
    if connection is None:
        raise ApiError("NotFound.Connection", f"Specified connection not found: {str(pk)[:40]}.", 404, field="id")
    return connection


def account_user(account_id: str, username: str) -> User:
    """The account's user `username`; InvalidParam.UserName when the account has none of that name."""
    user = User.objects.filter(account_id=account_id, username=username).first()
    if user is None:
        raise ApiError(
            "InvalidParam.UserName", f"User {username[:150]} does not exist in this account.", field="userName"
        )
    return user


def secret_names(connection: Connection) -> list[str]:
    """Wire names of the secrets the connection has set (never their values)."""
    stored = stored_secrets(connection)
    return [wire for key, wire in SECRET_WIRE.items() if stored.get(key)]


def policy_resource(account_id: str, product: str = "*") -> str:
    """The policy resource of a connection (`…/*` for the list and for creating)."""
    return f"acs:openapiexplorer::{account_id}:connection/{product}"
