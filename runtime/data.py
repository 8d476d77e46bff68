"""The runtime's only door to the database: small async functions, called on cache misses.

Each function runs its ORM work in one of the runtime's own lookup threads (`MCP_DATA_THREADS`,
so lookups do not queue behind each other), which closes its connection afterwards, so no idle
connection outlives the call (config.database.ConnectionClosingExecutor). They are not the event
loop's default threads: under load lookups wait there for a connection, and Django needs the
default threads to finish requests that hold one. Nothing here is called per tool call once
caches are warm.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async

from config.database import ConnectionClosingExecutor
from runtime import conf

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _lookup_threads() -> ConnectionClosingExecutor:
    return ConnectionClosingExecutor(max_workers=int(conf.get("MCP_DATA_THREADS")), thread_name_prefix="mcp-data")


def _in_thread(fn: Callable[P, R]) -> Callable[P, Any]:
    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await sync_to_async(fn, thread_sensitive=False, executor=_lookup_threads())(*args, **kwargs)

    return call


# Servers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerRecord:
    id: str
    account_id: str
    name: str
    source_type: str
    system_product: str
    system_name: str
    version: int
    language: str
    description: str
    instructions: str
    oauth_client_id: str
    public_access: str
    account_public_access: bool
    updated_at: datetime | None = None
    system_tools: tuple[str, ...] = ()
    # The internal URL's network whitelist (SPEC §6.3): the server's own list when it has
    # `enableCustomVpcWhitelist`, else its account's; empty accepts any address.
    internal_networks: tuple[str, ...] = ()
    # Multi-account (SPEC §6.4, runtime.roles): run calls in another account as its role.
    assume_role: bool = False
    assume_role_name: str = ""
    assume_role_extra_policy: str = ""


def _record(server: Any) -> ServerRecord:
    return ServerRecord(
        id=server.id,
        account_id=str(server.account_id),
        name=server.name,
        source_type=server.source_type,
        system_product=server.system_product,
        system_name=server.system_name,
        version=server.version,
        language=server.language,
        description=server.description,
        instructions=server.instructions,
        oauth_client_id=server.oauth_client_id,
        public_access=server.public_access,
        account_public_access=server.account.enable_public_access,
        updated_at=server.updated_at,
        system_tools=tuple(str(t) for t in server.system_tools or () if isinstance(t, str)),
        internal_networks=tuple(
            str(n)
            for n in (server.vpc_whitelists if server.enable_custom_vpc_whitelist else server.account.vpc_whitelists)
            or ()
        ),
        assume_role=server.enable_assume_role,
        assume_role_name=server.assume_role_name,
        assume_role_extra_policy=server.assume_role_extra_policy or "",
    )


@_in_thread
def compiled_server(server_id: str) -> tuple[ServerRecord, Any] | None:
    """The server's record and its compiled form (cheap when the compiler's cache has it)."""
    from servers.models import McpServer
    from servers.snapshot import compiled_for_server

    server = McpServer.objects.select_related("account").filter(id=server_id).first()
    if server is None:
        return None
    return _record(server), compiled_for_server(server)


@_in_thread
def account_networks(account_id: str) -> dict[str, tuple[str, ...]]:
    """Network id → CIDRs that whitelists of `account_id` may name (`oauth.networks.named_networks`)."""
    from oauth.networks import named_networks

    return named_networks(account_id)


# Principals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrincipalRecord:
    """Who a bearer token stands for, with everything authorization needs."""

    kind: str  # "oauth" | "pat"
    token_hash: str
    user_id: int
    username: str
    account_id: str
    is_superuser: bool
    is_active: bool
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float | None  # epoch seconds
    resources: tuple[str, ...] = ()
    server_id: str = ""  # personal tokens restricted to one server
    policies: tuple[tuple[str, Any], ...] = field(default=())  # (name, document)


def _user_fields(user: Any) -> dict[str, Any]:
    """The token's user, as every kind of principal records it."""
    return {
        "user_id": user.pk,
        "username": user.username,
        "account_id": str(user.account_id or ""),
        "is_superuser": user.is_superuser,
        "is_active": user.is_active,
        "policies": _policies(user),
    }


def _policies(user: Any) -> tuple[tuple[str, Any], ...]:
    if user.is_superuser:
        from oauth.policy import ADMIN_POLICY

        return (("superuser", ADMIN_POLICY),)
    return tuple((p.name, p.document) for p in user.policies.all())


@_in_thread
def principal_for_token(token_hash: str) -> PrincipalRecord | None:
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from oauth.models import PersonalAccessToken

    pat = PersonalAccessToken.objects.select_related("user").filter(token_hash=token_hash).first()
    if pat is not None:
        if pat.revoked_at is not None:
            return None
        PersonalAccessToken.objects.filter(pk=pat.pk).update(last_used_at=timezone.now())
        return PrincipalRecord(
            kind="pat",
            token_hash=token_hash,
            client_id="personal-access-token",
            scopes=("/acs/mcp-server",),
            expires_at=pat.expires_at.timestamp() if pat.expires_at else None,
            server_id=pat.server_id,
            **_user_fields(pat.user),
        )
    token = (
        get_access_token_model().objects.select_related("user", "application").filter(token_checksum=token_hash).first()
    )
    if token is None or token.user is None:
        return None
    resources = token.resource if isinstance(token.resource, list) else []
    return PrincipalRecord(
        kind="oauth",
        token_hash=token_hash,
        client_id=token.application.client_id if token.application else "",
        scopes=tuple(token.scope.split()),
        expires_at=token.expires.timestamp() if token.expires else None,
        resources=tuple(str(r) for r in resources),
        **_user_fields(token.user),
    )


# Roles (runtime.roles; cached there) ---------------------------------------------------------------


@dataclass(frozen=True)
class RoleRecord:
    """A role of an account as assume-role needs it: whom it trusts and its policies."""

    account_id: str
    name: str
    trusted_account_ids: tuple[str, ...]
    policies: tuple[tuple[str, Any], ...]  # (name, document)


@_in_thread
def role_for(account_id: str, name: str) -> RoleRecord | None:
    from oauth.models import Role

    role = Role.objects.filter(account_id=account_id, name=name).prefetch_related("policies").first()
    if role is None:
        return None
    return RoleRecord(
        account_id=str(role.account_id),
        name=role.name,
        trusted_account_ids=tuple(str(a) for a in role.trusted_account_ids or ()),
        policies=tuple((p.name, p.document) for p in role.policies.all()),
    )


# Connections -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionRecord:
    id: int
    product: str
    base_url: str
    region_endpoints: dict[str, str]
    default_region: str
    auth_type: str
    auth_config: dict[str, Any]
    secrets: dict[str, Any]
    connect_timeout: float | None
    read_timeout: float | None


@_in_thread
def connection_for(account_id: str, user_id: int | None, product: str) -> ConnectionRecord | None:
    """The user's own connection to `product`, else the account's (product compared case-insensitively)."""
    from django.db.models import Q

    from oauth.models import Connection

    rows = list(
        Connection.objects.filter(account_id=account_id, product__iexact=product).filter(
            Q(user__isnull=True) | Q(user_id=user_id)
        )
    )
    rows.sort(key=lambda c: c.user_id is None)  # the user's own first
    if not rows:
        return None
    c = rows[0]
    return ConnectionRecord(
        id=c.pk,
        product=c.product,
        base_url=c.base_url,
        region_endpoints={str(k): str(v) for k, v in (c.region_endpoints or {}).items()},
        default_region=c.default_region,
        auth_type=c.auth_type,
        auth_config=dict(c.auth_config or {}),
        secrets=c.get_secrets(),
        connect_timeout=c.connect_timeout,
        read_timeout=c.read_timeout,
    )


# Audit -------------------------------------------------------------------------------------------


@_in_thread
def write_audit_events(events: list[dict[str, Any]]) -> int:
    """Insert a batch of events (one statement, duplicates of `event_id` ignored).

    The same rows `AuditEvent.objects.bulk_create(..., ignore_conflicts=True)` writes, without
    building a model instance per event: that cost 0.12 ms of CPU per event on SQLite, a sizeable
    share of a tool call's own cost. Values go through each field's `get_db_prep_save`, so every
    backend gets what the ORM would give it (integer columns take the value as it is; text is cut to
    its column's length and NUL characters are written as `\\u0000`, so no text value fails a batch).
    A failing batch writes nothing (one transaction); `runtime.audit` then writes its events one by one.
    """
    from django.db import connection, transaction
    from django.db.models.constants import OnConflict

    from runtime.models import AuditEvent

    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    ops = connection.ops
    columns = ", ".join(ops.quote_name(str(f.column)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    suffix = ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None) or ""
    sql = (
        f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} {ops.quote_name(AuditEvent._meta.db_table)} "
        f"({columns}) VALUES ({placeholders}) {suffix}"
    ).rstrip()
    plan = [(f, f.attname, f.get_internal_type(), f.max_length) for f in fields]
    rows = [[_audit_value(f, name, kind, size, e, connection) for f, name, kind, size in plan] for e in events]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(events)


_PLAIN_TEXT = frozenset({"CharField", "TextField"})
_PLAIN_INT = frozenset({"BigIntegerField", "IntegerField", "PositiveIntegerField", "SmallIntegerField"})


def _audit_value(field: Any, name: str, kind: str, size: int | None, event: dict[str, Any], connection: Any) -> Any:
    value = event[name] if name in event else field.get_default()
    if value is None:
        return None
    if kind in _PLAIN_TEXT:
        # Text as PostgreSQL takes it: no NUL characters (written as \u0000), within the column's length.
        text = value if isinstance(value, str) else str(value)
        if "\x00" in text:
            text = text.replace("\x00", "\\u0000")
        return text[:size] if size is not None and len(text) > size else text
    if kind in _PLAIN_INT and type(value) is int:
        return value
    return field.get_db_prep_save(value, connection)


# System tools (runtime/system_tools.py; cached there, so these run on cache misses) ---------------


@_in_thread
def current_revision_key(product: str, version: str) -> tuple[int, str] | None:
    """(current revision id, sha256) of a catalog product version, or None."""
    from servers.catalog.selectors import current_revision_keys

    return current_revision_keys([(product, version)]).get((product, version))


@_in_thread
def api_index(revision: tuple[int, str]) -> list[dict[str, str]]:
    """Name, summary, description, method and path of every API of a catalog revision."""
    from servers.models import ApiDefinition

    rows = ApiDefinition.objects.filter(revision_id=revision[0]).values_list(
        "name", "summary", "method", "path", "definition__description"
    )
    return [
        {"name": n, "summary": s or "", "method": m or "", "path": p or "", "description": str(d or "")}
        for n, s, m, p, d in rows
    ]


@_in_thread
def compile_settings(settings: dict[str, Any]) -> Any:
    """Compile unsaved server settings (a `CompiledServer`), e.g. one API for CallApi."""
    from servers.snapshot import compiled_for_settings

    return compiled_for_settings(settings)


@_in_thread
def audit_events(
    *,
    account_id: str,
    user_id: int,
    start: datetime | None,
    end: datetime | None,
    tool: str,
    outcome: str,
    limit: int,
    before_id: int | None,
) -> list[dict[str, Any]]:
    """The user's own audit events in its account, newest first (`limit` + 1 to tell if more exist)."""
    from django.db.models import Q

    from runtime.models import AuditEvent

    qs = AuditEvent.objects.filter(account_id=account_id, user_id=user_id)
    if start is not None:
        qs = qs.filter(time__gte=start)
    if end is not None:
        qs = qs.filter(time__lt=end)
    if tool:
        qs = qs.filter(Q(tool=tool) | Q(action__iexact=tool))
    if outcome:
        qs = qs.filter(outcome=outcome)
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    return [
        {
            "id": e.pk,
            "eventId": e.event_id,
            "kind": e.kind,
            "time": e.time.isoformat().replace("+00:00", "Z"),
            "serverId": e.server_id,
            "tool": e.tool,
            "action": e.action,
            "outcome": e.outcome,
            "errorCode": e.error_code,
            "errorMessage": e.error_message,
            "latencyMs": e.latency_ms,
            "clientId": e.client_id,
            "sourceIp": e.source_ip,
            "targetAccountId": e.target_account_id,
            "requestId": e.request_id,
            "upstreamRequestId": e.upstream_request_id,
            "upstream": e.upstream,
            "arguments": e.arguments,
        }
        for e in qs.order_by("-pk")[: limit + 1]
    ]
