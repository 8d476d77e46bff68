"""Reads for identity and access, and for connections (an account's credentials for upstream products).

Connection secrets are write-only: reads say which secret names are set (`secret_names`), never
their values. The MCP runtime reads connections through `runtime/data.py`, not through this module.
"""

from __future__ import annotations

import logging
from typing import Any

from cryptography.fernet import InvalidToken
from django.db.models import F, QuerySet
from django.db.models.functions import Lower

from oauth import access
from oauth.models import Connection, Policy, Role, User
from oauth.policy import ADMIN_POLICY, Policies, parse_policy
from oauth.schemas import CONFIG_WIRE, SECRET_WIRE
from servers.errors import ApiError
from servers.selectors import iso_utc

logger = logging.getLogger(__name__)


def policies_for_user(user: User) -> Policies:
    """The parsed policies attached to a user (superusers get everything)."""
    if user.is_superuser:
        return [("superuser", parse_policy(ADMIN_POLICY))]
    return access.parse_named((p.name, p.document) for p in user.policies.all())


def decide_for_user(user: User, action: str, resource: str, context: dict[str, str]) -> access.Decision:
    """`oauth.access.decide` with the user's own policies: the decision of the management API and the console."""
    return access.decide(policies_for_user(user), action, resource, context)


def policies_for_account(account_id: str) -> QuerySet[Policy]:
    return Policy.objects.filter(account_id=account_id).prefetch_related("users", "roles").order_by("name")


def roles_for_account(account_id: str) -> QuerySet[Role]:
    return Role.objects.filter(account_id=account_id).prefetch_related("policies").order_by("name")


def policy_get(*, account_id: str, name: str) -> Policy:
    """The account's policy `name`, or 404 EntityNotExist.Policy."""
    policy = Policy.objects.filter(account_id=account_id, name=name).first()
    if policy is None:
        raise ApiError("EntityNotExist.Policy", f"The policy {name[:130]} does not exist.", 404, field="policyName")
    return policy


def role_get(*, account_id: str, name: str) -> Role:
    """The account's role `name`, or 404 EntityNotExist.Role."""
    role = Role.objects.filter(account_id=account_id, name=name).prefetch_related("policies").first()
    if role is None:
        raise ApiError("EntityNotExist.Role", f"The role {name[:70]} does not exist.", 404, field="roleName")
    return role


def user_get(*, account_id: str, username: str) -> User:
    """The account's user `username`, or 404 EntityNotExist.User (users of other accounts do not exist here)."""
    user = User.objects.filter(account_id=account_id, username=username).first()
    if user is None:
        raise ApiError("EntityNotExist.User", f"The user {username[:150]} does not exist.", 404, field="userName")
    return user


# Connections --------------------------------------------------------------------------------------


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
    if str(pk).isascii() and str(pk).isdigit() and len(str(pk)) < 19:
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


def stored_secrets(connection: Connection) -> dict[str, str]:
    """The connection's decrypted secrets; {} (and a warning in the log) when they cannot be decrypted."""
    try:
        return {str(k): str(v) for k, v in connection.get_secrets().items() if v}
    except (InvalidToken, ValueError):
        logger.warning(
            "the secrets of connection %s cannot be decrypted (FIELD_ENCRYPTION_KEY changed?)", connection.pk
        )
        return {}


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
