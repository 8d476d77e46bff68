"""Writes for accounts, users, policies, roles and credentials.

Policy and role writes validate their input and raise `ApiError` with the code the management API
answers (the management commands print its message); attaching and detaching is idempotent.
Every change that alters a decision reaches the MCP runtime's caches through `runtime.signals`
(`user` and `role` events).

Connections: the console, the management API and `manage.py set_connection` all write through
`connection_set` / `connection_delete`, which validate everything and raise `ApiError` with a
stable code and the wire name of the field at fault (`baseUrl`, `authConfig.tokenUrl`,
`secrets.apiKey`…), so every door refuses the same input the same way. On update an empty secret
keeps the stored one, as long as it still belongs to the same credential (same auth type and the
same key id, client id, token URL or user name). The runtime drops its cached copies on the
`connection` event that `runtime/signals.py` publishes after each commit.
"""

from __future__ import annotations

import math
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from oauth.crypto import encrypt, sha256_hex
from oauth.models import (
    ACCOUNT_ID_RE,
    POLICY_NAME_RE,
    ROLE_NAME_RE,
    AccessKey,
    Account,
    Connection,
    PersonalAccessToken,
    Policy,
    Role,
    User,
)
from oauth.policy import ADMIN_POLICY, PolicyError, parse_policy
from oauth.schemas import (
    AUTH_SPECS,
    CONFIG_WIRE,
    HEADER_NAME_RE,
    MAX_CONFIG_LENGTH,
    MAX_REGIONS,
    MAX_SECRET_LENGTH,
    MAX_TIMEOUT_SECONDS,
    MAX_URL_LENGTH,
    MIN_TIMEOUT_SECONDS,
    REGION_RE,
    SECRET_WIRE,
    AuthSpec,
)
from oauth.selectors import stored_secrets
from servers.catalog.naming import PRODUCT_CODE_RE
from servers.errors import ApiError
from servers.outbound import UPSTREAM_SETTING, host_refusal

BUILT_IN_POLICY = "AdministratorAccess"

_KEY_ALPHABET = string.ascii_letters + string.digits


@transaction.atomic
def account_create(*, name: str) -> Account:
    """Create an account with its built-in administrator policy and its system MCP servers."""
    from servers.system_servers import system_servers_ensure  # (servers depends on oauth, not the reverse)

    account = Account.objects.create(name=name)
    Policy.objects.create(account=account, name=BUILT_IN_POLICY, description="Full access", document=ADMIN_POLICY)
    system_servers_ensure(account)
    return account


def _check_document(document: Any, field: str = "policyDocument") -> None:
    try:
        parse_policy(document)
    except PolicyError as exc:
        raise ApiError("InvalidParam.PolicyDocument", f"{field}: {exc}", field=field) from None


MAX_RAM_DESCRIPTION = 1024  # of a policy or a role


def _check_description(description: str) -> str:
    if len(description) > MAX_RAM_DESCRIPTION:
        raise ApiError(
            "InvalidParam.Description",
            f"description must be at most {MAX_RAM_DESCRIPTION} characters.",
            field="description",
        )
    return description


def policy_create(*, account: Account, name: str, document: Any, description: str = "") -> Policy:
    """Create a policy after validating its name (1-128 of A-Z a-z 0-9 . _ -) and its document."""
    if not POLICY_NAME_RE.fullmatch(name):
        raise ApiError(
            "InvalidParam.PolicyName",
            f"policyName {name[:130]!r} must be 1 to 128 letters, digits, periods, underscores or hyphens.",
            field="policyName",
        )
    _check_document(document)
    if Policy.objects.filter(account=account, name=name).exists():
        raise ApiError("EntityAlreadyExists.Policy", f"The policy {name} already exists.", 409, field="policyName")
    return Policy.objects.create(
        account=account, name=name, document=document, description=_check_description(description)
    )


@transaction.atomic
def policy_update(*, policy: Policy, document: Any = None, description: str | None = None) -> Policy:
    """Replace a policy's document and/or description; omitted ones are unchanged."""
    if policy.name == BUILT_IN_POLICY:
        raise ApiError("Forbidden.BuiltInPolicy", f"The built-in policy {BUILT_IN_POLICY} cannot be changed.", 403)
    if document is not None:
        _check_document(document)
        policy.document = document
    if description is not None:
        policy.description = _check_description(description)
    policy.save()
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy) -> None:
    """Delete a policy that is attached to no user and no role (as RAM refuses to)."""
    if policy.name == BUILT_IN_POLICY:
        raise ApiError("Forbidden.BuiltInPolicy", f"The built-in policy {BUILT_IN_POLICY} cannot be deleted.", 403)
    if User.objects.filter(policies=policy).exists() or policy.roles.exists():
        raise ApiError(
            "DeleteConflict.Policy.Attachment",
            f"The policy {policy.name} is attached to users or roles; detach it first.",
            409,
        )
    policy.delete()


def _target(policy: Policy, user: User | None, role: Role | None) -> Any:
    if (user is None) == (role is None):
        raise ValueError("attach a policy to exactly one user or one role")
    owner = user.account_id if user is not None else role.account_id  # type: ignore[union-attr]
    if owner != policy.account_id:
        raise ValueError("a policy attaches only to users and roles of its own account")
    return user.policies if user is not None else role.policies  # type: ignore[union-attr]


@transaction.atomic
def policy_attach(*, policy: Policy, user: User | None = None, role: Role | None = None) -> None:
    """Attach `policy` to one user or one role of its account (no-op when attached already)."""
    _target(policy, user, role).add(policy)


@transaction.atomic
def policy_detach(*, policy: Policy, user: User | None = None, role: Role | None = None) -> None:
    """Detach `policy` from one user or one role (no-op when not attached)."""
    _target(policy, user, role).remove(policy)


def _trusted(account: Account, trusted_account_ids: Any) -> list[str]:
    if not isinstance(trusted_account_ids, list) or not all(isinstance(a, str) for a in trusted_account_ids):
        raise ApiError(
            "InvalidParam.TrustedAccountIds",
            "trustedAccountIds must be a list of account ids.",
            field="trustedAccountIds",
        )
    ids = list(dict.fromkeys(a.strip() for a in trusted_account_ids))
    for account_id in ids:
        if not ACCOUNT_ID_RE.fullmatch(account_id):
            raise ApiError(
                "InvalidParam.TrustedAccountIds",
                f"trustedAccountIds: {account_id[:40]!r} is not an account id (1 to 20 digits).",
                field="trustedAccountIds",
            )
        if account_id == account.id:
            raise ApiError(
                "InvalidParam.TrustedAccountIds",
                "trustedAccountIds: a role need not trust its own account (its users act there as themselves).",
                field="trustedAccountIds",
            )
    if len(ids) > 100:
        raise ApiError(
            "InvalidParam.TrustedAccountIds",
            "trustedAccountIds may list at most 100 accounts.",
            field="trustedAccountIds",
        )
    return ids


@transaction.atomic
def role_create(
    *,
    account: Account,
    name: str,
    trusted_account_ids: list[str],
    description: str = "",
    policies: Sequence[Policy] = (),
) -> Role:
    """Create a role of `account` trusted by `trusted_account_ids` (RAM's name rule: 1-64 of A-Z a-z 0-9 . -)."""
    if not ROLE_NAME_RE.fullmatch(name):
        raise ApiError(
            "InvalidParam.RoleName",
            f"roleName {name[:70]!r} must be 1 to 64 letters, digits, periods or hyphens.",
            field="roleName",
        )
    if Role.objects.filter(account=account, name=name).exists():
        raise ApiError("EntityAlreadyExists.Role", f"The role {name} already exists.", 409, field="roleName")
    role = Role.objects.create(
        account=account,
        name=name,
        description=_check_description(description),
        trusted_account_ids=_trusted(account, trusted_account_ids),
    )
    for policy in policies:
        policy_attach(policy=policy, role=role)
    return role


@transaction.atomic
def role_update(*, role: Role, trusted_account_ids: list[str] | None = None, description: str | None = None) -> Role:
    """Replace a role's trusted accounts and/or description; omitted ones are unchanged (the name is immutable)."""
    if trusted_account_ids is not None:
        role.trusted_account_ids = _trusted(role.account, trusted_account_ids)
    if description is not None:
        role.description = _check_description(description)
    role.save()
    return role


@transaction.atomic
def role_delete(*, role: Role) -> None:
    """Delete a role (its policies stay; calls assuming it are refused from then on)."""
    role.delete()


@transaction.atomic
def user_create(*, account: Account, username: str, password: str | None, is_account_admin: bool = False) -> User:
    """Create a user of `account`; account admins get the account's AdministratorAccess policy."""
    user = User.objects.create_user(username=username, password=password)
    user.account = account
    user.is_account_admin = is_account_admin
    user.save(update_fields=["account", "is_account_admin"])
    if is_account_admin:
        user.policies.add(Policy.objects.get(account=account, name=BUILT_IN_POLICY))
    return user


@dataclass(frozen=True)
class IssuedAccessKey:
    access_key_id: str
    access_key_secret: str
    account_id: str


def access_key_create(*, user: User, description: str = "") -> IssuedAccessKey:
    """Issue an AccessKey pair. The secret is returned once and stored encrypted."""
    key_id = "LTAI" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(30))
    AccessKey.objects.create(
        id=key_id,
        user=user,
        secret_encrypted=encrypt(secret),
        secret_sha256=sha256_hex(secret),
        description=description,
    )
    return IssuedAccessKey(key_id, secret, str(user.account_id))


def access_key_revoke(*, access_key: AccessKey) -> None:
    access_key.revoked_at = timezone.now()
    access_key.save(update_fields=["revoked_at"])


def personal_token_create(*, user: User, name: str = "", server_id: str = "") -> str:
    """Issue a personal access token (returned once; only its hash is stored)."""
    token = "mcp_pat_" + secrets.token_urlsafe(32)
    PersonalAccessToken.objects.create(
        user=user, name=name, token_hash=sha256_hex(token), prefix=token[:12], server_id=server_id
    )
    return token


# Connections: validation -------------------------------------------------------------------------

_CHOICES = {"in": ("header", "query"), "client_auth": ("basic", "post")}


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
    problem = host_refusal(parts.hostname, allow_private=settings.UPSTREAM_ALLOW_PRIVATE_URLS, setting=UPSTREAM_SETTING)
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


# Connections ---------------------------------------------------------------------------------------


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
