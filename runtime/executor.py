"""Executing one tool call (SPEC §5.3).

validate arguments (precompiled validator) → authorize `{product}:{ApiName}` for the caller
(`oauth.access`), or, with `x_assume_account_id` naming another account, assume that account's role
and authorize with the role's policies (`runtime.roles`) → connection of the target account (in the
caller's own account the user's own connection first) → endpoint (region) → build → sign → send
(pooled client, timeouts, size cap) → map to a result → enqueue the audit event (with the target
account, so the event is visible in both accounts).

Each step is a method of `Executor` named for it; a step that fails raises one
`runtime.results.ToolError` (code, message, outcome), which `Executor.call` renders once into the
`isError` result and the audit event. Nothing here raises to the client.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from oauth import access
from runtime import audit, build, conf, data, endpoints, internal_api, roles, upstream
from runtime.auth import Principal
from runtime.fastpath import AddressRefused
from runtime.results import ToolError, UpstreamResponse, map_response, request_id_of
from runtime.signing import HttpRequest
from runtime.snapshot import ServerSnapshot
from servers import cli
from servers.compiler.types import ASSUME_ARG, REGION_ARG
from servers.system_tools import is_management_api

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallMeta:
    source_ip: str
    request_id: str
    local_url: str = ""  # the socket the MCP request arrived on (runtime.internal_api)
    host: str = ""  # its Host header


@dataclass
class ToolCall:
    """One tool call on its way through the steps; what its audit event reports besides the outcome."""

    snap: ServerSnapshot
    binding: Any
    arguments: dict[str, Any]  # the steps take out region and account, merge constants (audited so)
    principal: Principal
    meta: CallMeta
    region: str = ""
    target: str = ""  # the account whose role the call runs as; "" in the server's own account
    connection: data.ConnectionRecord | None = None
    internal: internal_api.InternalCall | None = None  # a call of this installation's management API
    upstream: dict[str, Any] | None = None  # the request as logged (GetRequestLog)
    upstream_request_id: str = ""

    @property
    def account_id(self) -> str:
        return self.target or self.snap.record.account_id


class ConnectionCache:
    """Connections by (account, user, product) for a short TTL; changes show within that TTL."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, int, str], tuple[data.ConnectionRecord | None, float]] = {}

    async def get(self, account_id: str, user_id: int, product: str) -> data.ConnectionRecord | None:
        key = (account_id, user_id, product.lower())
        hit = self._items.get(key)
        ttl = float(conf.get("MCP_CONNECTION_TTL_SECONDS"))
        if hit is not None and time.monotonic() - hit[1] < ttl:
            return hit[0]
        record = await data.connection_for(account_id, user_id, product)
        self._items[key] = (record, time.monotonic())
        return record

    def clear(self) -> None:
        self._items.clear()


def validation_message(errors: list[Any]) -> str:
    """One line per problem, naming the argument (`Invalid argument "X": …`)."""
    lines = []
    for err in errors[:5]:
        path = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "required" and isinstance(err.instance, dict):
            missing = [r for r in err.validator_value if r not in err.instance]
            name = ".".join(filter(None, [path, missing[0] if missing else ""]))
            lines.append(f'Missing required argument "{name}"')
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set((err.schema.get("properties") or {}).keys())
            extra = sorted(k for k in err.instance if k not in allowed)
            lines.append(f'Unknown argument "{".".join(filter(None, [path, extra[0] if extra else ""]))}"')
        else:
            lines.append(f'Invalid argument "{path or "(arguments)"}": {err.message}')
    return "; ".join(lines)


class Executor:
    def __init__(self, client: httpx.AsyncClient, writer: audit.AuditWriter) -> None:
        self.client = client
        self.writer = writer
        self.tokens = upstream.TokenCache()
        self.connections = ConnectionCache()

    async def call(
        self,
        snap: ServerSnapshot,
        tool_name: str,
        arguments: dict[str, Any] | None,
        principal: Principal,
        meta: CallMeta,
    ) -> dict[str, Any]:
        """Run the tool; every failure is an `isError` result, every call one audit event."""
        started = time.monotonic()
        binding = snap.binding(tool_name)
        call = ToolCall(snap, binding, dict(arguments or {}), principal, meta)
        error: ToolError | None = None
        try:
            if binding is None:
                raise ToolError("NotFound.Tool", f"Unknown tool {tool_name}", outcome="invalid")
            result = await self._run(call)
        except ToolError as failure:
            error = failure
        except Exception:
            logger.exception(
                "tool call %s on server %s failed (request %s)", tool_name, snap.server_id, meta.request_id
            )
            error = ToolError("InternalError", f"Internal error; request id {meta.request_id}")
        if error is not None:
            result = error.result()
        secret_names = frozenset(
            name
            for name, param in ((getattr(binding, "arguments", None) or {}).items())
            if (param.get("schema") or {}).get("format") == "password" or param.get("x-sensitive")
        )
        self.audit_tool_call(
            snap,
            principal,
            meta,
            tool=tool_name,
            action=getattr(binding, "action", "") or "",
            arguments=audit.redact(call.arguments, secret_names=secret_names),
            outcome=error.outcome if error else "success",
            error_code=error.code if error else "",
            error_message=error.message if error else "",
            started=started,
            target_account_id=call.target,
            upstream_request_id=call.upstream_request_id,
            upstream=_redacted_log(call.upstream, secret_names),
        )
        return result

    async def _run(self, call: ToolCall) -> dict[str, Any]:
        """validate → authorize → (CLI mode: the command) → resolve connection → build → sign → send → map."""
        self._validate(call)
        await self._authorize(call)
        for key, value in (call.binding.constants or {}).items():
            call.arguments[key] = value
        if call.binding.cli_mode:
            return await self._command(call)
        await self._resolve_connection(call)
        request = self._build(call)
        await self._sign(call, request)
        return self._map(call, await self._send(call, request))

    def _validate(self, call: ToolCall) -> None:
        """The tool's precompiled JSON Schema; then region and account leave the arguments."""
        validator = call.snap.validator(call.binding.tool_name)
        if validator is not None:
            errors = sorted(validator.iter_errors(call.arguments), key=lambda e: list(e.absolute_path))
            if errors:
                raise ToolError("InvalidParameter", validation_message(errors), outcome="invalid")
        call.region = str(call.arguments.pop(REGION_ARG, "") or "")
        target = str(call.arguments.pop(ASSUME_ARG, "") or "")
        call.target = target if target != call.snap.record.account_id else ""

    async def _authorize(self, call: ToolCall) -> None:
        """`{product}:{ApiName}` for the caller, or, in another account, for the role it assumes there."""
        snap, binding, principal = call.snap, call.binding, call.principal
        context = access.request_context(
            source_ip=call.meta.source_ip, server_id=snap.server_id, client_id=principal.client_id
        )
        resource = access.tool_resource(binding.product, call.region, call.account_id)
        if call.target:
            role = await self._assume(snap, principal, call.target, context)
            decision = role.decide(snap.record.assume_role_extra_policy, binding.action, resource, context)
        else:
            decision = principal.decide(binding.action, resource, context)
        if not decision.allowed:
            raise ToolError("Forbidden.RAM", decision.message, outcome="denied", extra={"action": binding.action})

    def _user_id(self, call: ToolCall) -> int:
        # In another account only that account's own connections apply (no user there is the caller).
        return 0 if call.target else call.principal.user_id

    async def _command(self, call: ToolCall) -> dict[str, Any]:
        """CLI mode (SPEC §5.4): the command that performs the call (`servers.cli`), instead of the call."""
        own = await self.connections.get(call.account_id, self._user_id(call), call.binding.product)
        try:
            command = cli.command_for(
                call.binding, call.arguments, region=call.region or None, base_url=(own and own.base_url) or None
            )
        except build.BuildError as exc:
            raise ToolError("InvalidParameter", str(exc), outcome="invalid") from None
        return {"content": [{"type": "text", "text": command}], "isError": False}

    async def _resolve_connection(self, call: ToolCall) -> None:
        """The management API's own connection, else the target account's for the product."""
        snap, binding, principal, meta = call.snap, call.binding, call.principal, call.meta
        if call.target and is_management_api(binding.product, binding.version, binding.style):
            raise ToolError(
                "Unsupported.AssumeRole",
                "Tools over this installation's management API act as you in your own account only",
            )
        call.internal = internal = internal_api.internal_call(
            binding,
            user_id=principal.user_id,
            account_id=call.account_id,
            server_id=snap.server_id,
            client_id=principal.client_id,
            source_ip=meta.source_ip,
            local=meta.local_url,
            host=meta.host,
        )
        if internal is not None:
            call.connection = internal.connection
        else:
            call.connection = await self.connections.get(call.account_id, self._user_id(call), binding.product)

    async def _assume(
        self, snap: ServerSnapshot, principal: Principal, target: str, context: dict[str, str]
    ) -> roles.AssumedRole:
        """The role of account `target` this call runs as (SPEC §6.4), or roles.AssumeRoleRefused."""
        if not snap.record.assume_role:
            raise roles.AssumeRoleRefused(
                "Forbidden.AssumeRole", "This MCP server does not run tools in other accounts (enableAssumeRole is off)"
            )
        role_name = snap.record.assume_role_name
        may_assume = principal.decide(access.ASSUME_ROLE_ACTION, access.role_resource(target, role_name), context)
        return await roles.assume(
            may_assume, target_account_id=target, role_name=role_name, server_account_id=snap.record.account_id
        )

    def audit_tool_call(
        self,
        snap: ServerSnapshot,
        principal: Principal,
        meta: CallMeta,
        *,
        tool: str,
        action: str,
        arguments: dict[str, Any],
        outcome: str,
        error_code: str,
        error_message: str,
        started: float,
        target_account_id: str = "",
        upstream_request_id: str = "",
        upstream: dict[str, Any] | None = None,
    ) -> None:
        """Queue the audit event of one tool call (a catalog tool or a system tool); `arguments`
        already redacted, `started` from `time.monotonic()`."""
        self.writer.emit(
            audit.new_event(
                kind="tool_call",
                account_id=snap.record.account_id,
                target_account_id=target_account_id or snap.record.account_id,
                user_id=principal.user_id,
                username=principal.record.username,
                client_id=principal.client_id,
                server_id=snap.server_id,
                tool=tool,
                action=action,
                arguments=arguments,
                outcome=outcome,
                error_code=error_code[:200],
                error_message=error_message[:2000],
                latency_ms=int((time.monotonic() - started) * 1000),
                source_ip=meta.source_ip,
                request_id=meta.request_id,
                upstream_request_id=upstream_request_id[:200],
                upstream=upstream or {},
            )
        )

    def _build(self, call: ToolCall) -> HttpRequest:
        """Endpoint (region) and the unsigned request (`runtime.build`)."""
        binding, connection, arguments = call.binding, call.connection, call.arguments
        overrides = endpoints.EndpointOverrides(
            base_url=connection.base_url if connection else "",
            region_endpoints=connection.region_endpoints if connection else {},
            default_region=connection.default_region if connection else "",
        )
        if binding.regional or call.region:
            call.region = endpoints.choose_region(call.region, overrides, sorted(binding.endpoints or {}))
        try:
            base_url = endpoints.resolve_base_url(
                style=binding.style,
                region=call.region,
                overrides=overrides,
                document_endpoints=[{"regionId": r, "endpoint": e} for r, e in (binding.endpoints or {}).items()],
                servers=list(binding.api.get("x-servers") or []) + list(binding.servers or []),
            )
        except endpoints.EndpointError as exc:
            raise ToolError("InvalidEndpoint", str(exc)) from None
        if call.region and _has_param(binding.api, "RegionId") and "RegionId" not in arguments:
            arguments["RegionId"] = call.region
        try:
            request = build.build_request(style=binding.style, api=binding.api, arguments=arguments, base_url=base_url)
        except build.BuildError as exc:
            raise ToolError("InvalidParameter", str(exc)) from None
        if call.internal is not None:
            request.headers.update(call.internal.headers)
        return request

    async def _sign(self, call: ToolCall, request: HttpRequest) -> None:
        """The connection's credentials on the request (signature, token, key)."""
        binding = call.binding
        try:
            await upstream.apply_credentials(
                request,
                call.connection,
                action=binding.api_name,
                version=binding.version,
                client=self.client,
                tokens=self.tokens,
            )
        except upstream.CredentialError as exc:
            raise ToolError("InvalidCredentials", str(exc)) from None

    async def _send(self, call: ToolCall, request: HttpRequest) -> UpstreamResponse:
        """The request over the pooled client, with the connection's timeouts and the size cap."""
        binding, connection = call.binding, call.connection
        connect_timeout = (connection and connection.connect_timeout) or float(conf.get("MCP_UPSTREAM_CONNECT_TIMEOUT"))
        read_timeout = (connection and connection.read_timeout) or float(conf.get("MCP_UPSTREAM_READ_TIMEOUT"))
        call.upstream = log = {
            "method": request.method,
            "url": audit.redact_url(request.full_url()),
            # What GetRequestLog reports of the call (oauth.audit.log_info).
            "product": binding.product,
            "version": binding.version,
            "api": binding.api_name,
            "style": binding.style,
            "region": call.region,
        }
        try:
            sent = await upstream.send(
                self.client,
                request,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_bytes=int(conf.get("MCP_MAX_RESPONSE_BYTES")),
            )
        except httpx.TimeoutException:
            message = f"The upstream API did not answer in time ({request.method} {log['url']})"
            raise ToolError("UpstreamTimeout", message) from None
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, AddressRefused):  # the SSRF rule, judged on the resolved address
                raise ToolError("Forbidden.UpstreamAddress", f"The upstream address is not allowed: {exc}") from None
            raise ToolError(
                "UpstreamUnavailable", f"The upstream API could not be reached: {type(exc).__name__}"
            ) from None
        response: UpstreamResponse = sent.response
        log.update(status=response.status, duration_ms=sent.duration_ms, bytes=len(response.body))
        call.upstream_request_id = request_id_of(response)
        return response

    def _map(self, call: ToolCall, response: UpstreamResponse) -> dict[str, Any]:
        """The upstream answer as the tool's result; HTTP >= 400 raises its ToolError."""
        binding = call.binding
        return map_response(
            response,
            error_codes=binding.api.get("errorCodes"),
            output_schema=binding.output_schema,
            wrap_output=binding.output_wrapped,
        )


def _redacted_log(log: dict[str, Any] | None, secret_names: frozenset[str]) -> dict[str, Any] | None:
    """The upstream log with the query values of secret arguments (format password, x-sensitive) masked."""
    if not log or not secret_names or "url" not in log:
        return log
    return {**log, "url": audit.redact_url(str(log["url"]), secret_names=secret_names)}


def _has_param(api: Any, name: str) -> bool:
    return any(p.get("name") == name and p.get("in") != "body" for p in api.get("parameters") or [])


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()
