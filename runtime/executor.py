"""Executing one tool call (SPEC §5.3).

validate arguments (precompiled validator) → authorize `{product}:{ApiName}` for the caller
(`oauth.access`), or, with `x_assume_account_id` naming another account, assume that account's role
and authorize with the role's policies (`runtime.roles`) → connection of the target account (in the
caller's own account the user's own connection first) → endpoint (region) → build → sign → send
(pooled client, timeouts, size cap) → map to a result → enqueue the audit event (with the target
account, so the event is visible in both accounts).

Tool failures are `isError` results naming what went wrong; nothing here raises to the client.
"""

from __future__ import annotations

import json
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
from runtime.results import UpstreamResponse, map_response, request_id_of, tool_error
from runtime.snapshot import ServerSnapshot
from servers import cli
from servers.system_tools import is_management_api

logger = logging.getLogger(__name__)

REGION_ARG = "x_mcp_region_id"
ASSUME_ARG = "x_assume_account_id"


@dataclass(frozen=True)
class CallMeta:
    source_ip: str
    request_id: str
    local_url: str = ""  # the socket the MCP request arrived on (runtime.internal_api)
    host: str = ""  # its Host header


@dataclass
class Outcome:
    result: dict[str, Any]
    outcome: str  # success | error | denied | invalid
    error_code: str = ""
    error_message: str = ""
    upstream: dict[str, Any] | None = None
    upstream_request_id: str = ""
    target_account_id: str = ""


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
        started = time.monotonic()
        arguments = dict(arguments or {})
        binding = snap.binding(tool_name)
        if binding is None:
            outcome = Outcome(tool_error(f"Unknown tool {tool_name}", code="NotFound.Tool"), "invalid", "NotFound.Tool")
        else:
            try:
                outcome = await self._call(snap, binding, arguments, principal, meta)
            except Exception:
                logger.exception(
                    "tool call %s on server %s failed (request %s)", tool_name, snap.server_id, meta.request_id
                )
                outcome = Outcome(
                    tool_error(f"Internal error; request id {meta.request_id}", code="InternalError"),
                    "error",
                    "InternalError",
                )
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
            arguments=audit.redact(arguments, secret_names=secret_names),
            outcome=outcome.outcome,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            started=started,
            target_account_id=outcome.target_account_id,
            upstream_request_id=outcome.upstream_request_id,
            upstream=_redacted_log(outcome.upstream, secret_names),
        )
        return outcome.result

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

    async def _call(
        self, snap: ServerSnapshot, binding: Any, arguments: dict[str, Any], principal: Principal, meta: CallMeta
    ) -> Outcome:
        validator = snap.validator(binding.tool_name)
        if validator is not None:
            errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
            if errors:
                message = validation_message(errors)
                return Outcome(tool_error(message, code="InvalidParameter"), "invalid", "InvalidParameter", message)
        region = str(arguments.pop(REGION_ARG, "") or "")
        target = str(arguments.pop(ASSUME_ARG, "") or "")
        if target and target != snap.record.account_id:
            outcome = await self._call_in(snap, binding, arguments, principal, meta, region, target)
            outcome.target_account_id = target
            return outcome
        return await self._call_in(snap, binding, arguments, principal, meta, region, "")

    async def _call_in(
        self,
        snap: ServerSnapshot,
        binding: Any,
        arguments: dict[str, Any],
        principal: Principal,
        meta: CallMeta,
        region: str,
        target: str,
    ) -> Outcome:
        """The call in the server's account (`target` empty) or, as its role, in account `target`."""
        context = access.request_context(
            source_ip=meta.source_ip, server_id=snap.server_id, client_id=principal.client_id
        )
        account_id = target or snap.record.account_id
        resource = access.tool_resource(binding.product, region, account_id)
        if target:
            try:
                role = await self._assume(snap, principal, target, context)
            except roles.AssumeRoleRefused as refused:
                status = "denied" if refused.code.startswith("Forbidden") else "error"
                return Outcome(tool_error(refused.message, code=refused.code), status, refused.code, refused.message)
            decision = role.decide(snap.record.assume_role_extra_policy, binding.action, resource, context)
        else:
            decision = principal.decide(binding.action, resource, context)
        if not decision.allowed:
            return Outcome(
                tool_error(decision.message, code="Forbidden.RAM", extra={"action": binding.action}),
                "denied",
                "Forbidden.RAM",
                decision.message,
            )
        for key, value in (binding.constants or {}).items():
            arguments[key] = value
        # In another account only that account's own connections apply (no user there is the caller).
        user_id = 0 if target else principal.user_id
        if binding.cli_mode:
            own = await self.connections.get(account_id, user_id, binding.product)
            return cli_outcome(binding, arguments, region, own.base_url if own else "")
        if target and is_management_api(binding.product, binding.version, binding.style):
            message = "Tools over this installation's management API act as you in your own account only"
            return Outcome(
                tool_error(message, code="Unsupported.AssumeRole"), "error", "Unsupported.AssumeRole", message
            )
        internal = internal_api.internal_call(
            binding,
            user_id=principal.user_id,
            account_id=account_id,
            server_id=snap.server_id,
            client_id=principal.client_id,
            source_ip=meta.source_ip,
            local=meta.local_url,
            host=meta.host,
        )
        if internal is not None:
            connection: data.ConnectionRecord | None = internal.connection
        else:
            connection = await self.connections.get(account_id, user_id, binding.product)
        overrides = endpoints.EndpointOverrides(
            base_url=connection.base_url if connection else "",
            region_endpoints=connection.region_endpoints if connection else {},
            default_region=connection.default_region if connection else "",
        )
        document_endpoints = [{"regionId": r, "endpoint": e} for r, e in (binding.endpoints or {}).items()]
        if binding.regional or region:
            region = endpoints.choose_region(region, overrides, sorted(binding.endpoints or {}))
        servers = list(binding.api.get("x-servers") or []) + list(binding.servers or [])
        try:
            base_url = endpoints.resolve_base_url(
                style=binding.style,
                region=region,
                overrides=overrides,
                document_endpoints=document_endpoints,
                servers=servers,
            )
            if region and _has_param(binding.api, "RegionId") and "RegionId" not in arguments:
                arguments["RegionId"] = region
            request = build.build_request(style=binding.style, api=binding.api, arguments=arguments, base_url=base_url)
            if internal is not None:
                request.headers.update(internal.headers)
            await upstream.apply_credentials(
                request,
                connection,
                action=binding.api_name,
                version=binding.version,
                client=self.client,
                tokens=self.tokens,
            )
        except (endpoints.EndpointError, build.BuildError, upstream.CredentialError) as exc:
            code = {
                endpoints.EndpointError: "InvalidEndpoint",
                build.BuildError: "InvalidParameter",
                upstream.CredentialError: "InvalidCredentials",
            }[type(exc)]
            return Outcome(tool_error(str(exc), code=code), "error", code, str(exc))
        connect_timeout = (connection and connection.connect_timeout) or float(conf.get("MCP_UPSTREAM_CONNECT_TIMEOUT"))
        read_timeout = (connection and connection.read_timeout) or float(conf.get("MCP_UPSTREAM_READ_TIMEOUT"))
        log: dict[str, Any] = {
            "method": request.method,
            "url": audit.redact_url(request.full_url()),
            # What GetRequestLog reports of the call (oauth.audit.log_info).
            "product": binding.product,
            "version": binding.version,
            "api": binding.api_name,
            "style": binding.style,
            "region": region,
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
            return Outcome(tool_error(message, code="UpstreamTimeout"), "error", "UpstreamTimeout", message, log)
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, AddressRefused):  # the SSRF rule, judged on the resolved address
                message = f"The upstream address is not allowed: {exc}"
                code = "Forbidden.UpstreamAddress"
            else:
                message = f"The upstream API could not be reached: {type(exc).__name__}"
                code = "UpstreamUnavailable"
            return Outcome(tool_error(message, code=code), "error", code, message, log)
        response: UpstreamResponse = sent.response
        log.update(status=response.status, duration_ms=sent.duration_ms, bytes=len(response.body))
        result = map_response(
            response,
            error_codes=binding.api.get("errorCodes"),
            output_schema=binding.output_schema,
            wrap_output=binding.output_wrapped,
        )
        upstream_id = request_id_of(response)
        if result.get("isError"):
            details = json.loads(result["content"][0]["text"])
            return Outcome(
                result,
                "error",
                str(details.get("code") or f"HTTP{response.status}"),
                details.get("message", ""),
                log,
                upstream_id,
            )
        return Outcome(result, "success", upstream=log, upstream_request_id=upstream_id)


def _redacted_log(log: dict[str, Any] | None, secret_names: frozenset[str]) -> dict[str, Any] | None:
    """The upstream log with the query values of secret arguments (format password, x-sensitive) masked."""
    if not log or not secret_names or "url" not in log:
        return log
    return {**log, "url": audit.redact_url(str(log["url"]), secret_names=secret_names)}


def _has_param(api: Any, name: str) -> bool:
    return any(p.get("name") == name and p.get("in") != "body" for p in api.get("parameters") or [])


def cli_outcome(binding: Any, arguments: dict[str, Any], region: str, base_url: str = "") -> Outcome:
    """CLI mode (SPEC §5.4): the command that performs the call (`servers.cli`), instead of the call."""
    try:
        command = cli.command_for(binding, arguments, region=region or None, base_url=base_url or None)
    except cli.CliError as exc:
        return Outcome(tool_error(str(exc), code="InvalidParameter"), "invalid", "InvalidParameter", str(exc))
    return Outcome({"content": [{"type": "text", "text": command}], "isError": False}, "success")


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()
