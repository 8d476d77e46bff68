"""One MCP server per published server: the SDK's lowlevel `Server`, its transports and handlers.

Each published server gets its own `ServerRuntime` (created on first use): a lowlevel `Server`
whose identity and `instructions` are the server's, a stateful and a stateless
`StreamableHTTPSessionManager` (the stateless one also serves the 2026-07-28 protocol), an
`SseServerTransport` whose message endpoint is the server's own `…/messages`, and a
`subscriptions/listen` bus. Sessions therefore never cross servers: a session id opened on one
server is unknown to every other.

Handlers read the compiled snapshot (cached) and the caller's principal, which `runtime.asgi`
put in the ASGI scope after authenticating the HTTP request that carried the message.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from anyio.abc import TaskStatus
from mcp.server.caching import CACHEABLE_METHODS, CacheHint
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, PromptsListChanged, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import Receive, Scope, Send

from runtime import audit, conf, edge, fastpath, internal_api, limits, system_tools
from runtime.data import ServerRecord
from runtime.executor import CallMeta, new_request_id
from servers.compiler import prompts

if TYPE_CHECKING:
    from runtime.asgi import Runtime

logger = logging.getLogger(__name__)

APP_VERSION = "1.0.0"


class _Server(Server[Any]):
    """Advertises `listChanged` for tools and prompts on every handshake."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        options = notification_options or NotificationOptions(prompts_changed=True, tools_changed=True)
        return super().create_initialization_options(options, experimental_capabilities, extensions)


def render_prompt(prompt: dict[str, Any], arguments: dict[str, str]) -> dict[str, Any]:
    """`prompts/get`: the content as `servers.compiler.prompts` renders it; its refusals are invalid params."""
    try:
        text = prompts.render_prompt(prompt, arguments)
    except prompts.PromptError as exc:
        raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
    result: dict[str, Any] = {"messages": [{"role": "user", "content": {"type": "text", "text": text}}]}
    if prompt.get("description"):
        result["description"] = prompt["description"]
    return result


def _complete_result(ctx: ServerRequestContext[Any, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """2026-07-28 results must say they are complete; handshake-era ones must not carry it."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        payload["resultType"] = "complete"
    return payload


def _principal(ctx: ServerRequestContext[Any, Any]) -> Any:
    request = ctx.request
    principal = request.scope.get("mcp.principal") if request is not None else None
    if principal is None:
        raise MCPError(code=types.INVALID_REQUEST, message="Unauthenticated request")
    return principal


def _meta(ctx: ServerRequestContext[Any, Any]) -> CallMeta:
    request = ctx.request
    scope = request.scope if request is not None else {}
    return CallMeta(
        source_ip=str(scope.get("mcp.source_ip", "")),
        request_id=str(scope.get("mcp.request_id") or new_request_id()),
        local_url=internal_api.local_url(scope),
        host=next((v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"host"), ""),
    )


# The session slot of the `initialize` being served in this task (see _SessionManager).
_opening: contextvars.ContextVar[limits.Slot | None] = contextvars.ContextVar("mcp_opening_session", default=None)


class _SessionManager(fastpath.CountingSessionManager):
    """The SDK's session manager, keeping the session caps (`runtime.limits`) informed.

    A session's slot (taken by the `initialize` that opens it) is bound to the session when the
    manager registers it, and released when the manager forgets it, however it ended: DELETE, idle
    expiry, a refused opening request, a crash, shutdown (tests/runtime/test_mcp_limits.py checks
    that counts return to zero each way).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots: dict[str, limits.Slot] = {}

    def session_opened(self, session_id: str) -> None:
        slot = _opening.get()
        if slot is not None and not slot.bound:
            slot.bound = True
            self._slots[session_id] = slot

    def session_closed(self, session_id: str) -> None:
        slot = self._slots.pop(session_id, None)
        if slot is not None:
            slot.release()


class ServerRuntime:
    """The SDK objects serving one published server in this process."""

    def __init__(self, runtime: Runtime, record: ServerRecord) -> None:
        self.runtime = runtime
        self.server_id = record.id
        self.account_id = record.account_id
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self.bus)
        self.connections: set[Connection] = set()
        hints: dict[Any, CacheHint] = {m: CacheHint(ttl_ms=0, scope="private") for m in CACHEABLE_METHODS}
        self.server: Server[Any] = _Server(
            record.name,
            version=APP_VERSION,
            title=record.name,
            instructions=record.instructions or None,
            get_tool_input_schema=self._input_schema,
            on_subscriptions_listen=self.listen,
            cache_hints=hints,
        )
        # Handlers answer with plain dicts (the SDK validates them per protocol version).
        add = self.server.add_request_handler
        add("tools/list", types.PaginatedRequestParams, self._list_tools)
        add("tools/call", types.CallToolRequestParams, self._call_tool)
        add("prompts/list", types.PaginatedRequestParams, self._list_prompts)
        add("prompts/get", types.GetPromptRequestParams, self._get_prompt)
        add("completion/complete", types.CompleteRequestParams, self._complete)
        # logging/setLevel is deprecated at 2026-07-28 but part of every handshake-era protocol.
        add("logging/setLevel", types.SetLevelRequestParams, self._set_level)
        self.server.middleware.append(self._track_connection)
        security = runtime.transport_security
        limit = runtime.max_request_bytes
        self.sse = SseServerTransport("/messages", security_settings=security, max_request_body_size=limit)
        self._managers: dict[bool, StreamableHTTPSessionManager] = {}
        self._manager_lock = anyio.Lock()
        self._scope = anyio.CancelScope()

    # Transports ------------------------------------------------------------------------------

    async def _run_manager(
        self, manager: StreamableHTTPSessionManager, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with self._scope:
            async with manager.run():
                task_status.started()
                await anyio.sleep_forever()

    async def manager(self, stateless: bool) -> StreamableHTTPSessionManager:
        found = self._managers.get(stateless)
        if found is not None:
            return found
        async with self._manager_lock:
            found = self._managers.get(stateless)
            if found is None:
                found = _SessionManager(
                    app=self.server,
                    stateless=stateless,
                    json_response=False,
                    security_settings=self.runtime.transport_security,
                    max_request_body_size=self.runtime.max_request_bytes,
                    session_idle_timeout=float(conf.get("MCP_SESSION_IDLE_SECONDS")),
                )
                await self.runtime.task_group.start(self._run_manager, found)
                self._managers[stateless] = found
        return found

    async def handle_mcp(
        self, scope: Scope, receive: Receive, send: Send, *, stateless: bool, message: dict[str, Any] | None
    ) -> None:
        """Serve a request with the SDK's manager, within the session and stream caps (`runtime.limits`)."""
        manager = await self.manager(stateless)
        method = scope["method"]
        user_id = scope["mcp.principal"].user_id
        opening = False
        try:
            if method == "GET" or (message is not None and message.get("method") == "subscriptions/listen"):
                slot = self.runtime.streams.take(user_id, self.server_id)
            elif (
                not stateless
                and message is not None
                and message.get("method") == "initialize"
                and not any(k == b"mcp-session-id" for k, _ in scope["headers"])
            ):
                slot = self.runtime.sessions.take(user_id, self.server_id)
                opening = True
            else:
                await manager.handle_request(scope, receive, send)
                return
        except edge.Rejected as refused:
            await refused.send(send)
            return
        token = _opening.set(slot if opening else None)
        try:
            await manager.handle_request(scope, receive, send)
        finally:
            _opening.reset(token)
            if not slot.bound:  # a stream, or an initialize that opened no session
                slot.release()

    async def handle_sse(self, scope: Scope, receive: Receive, send: Send, base_path: str) -> None:
        """A legacy SSE connection (its session lives as long as the stream), within the stream caps."""
        try:
            slot = self.runtime.streams.take(scope["mcp.principal"].user_id, self.server_id)
        except edge.Rejected as refused:
            await refused.send(send)
            return
        # The SDK tells the client to POST to root_path + "/messages": this server's own endpoint.
        sse_scope = dict(scope, root_path=base_path)
        try:
            async with self.sse.connect_sse(sse_scope, receive, send) as (read_stream, write_stream):
                await self.server.run(read_stream, write_stream, self.server.create_initialization_options())
        except ValueError:
            return  # refused by the transport's checks; it already answered
        finally:
            slot.release()

    async def handle_messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sse.handle_post_message(scope, receive, send)

    def stop(self) -> None:
        self._scope.cancel()
        self.listen.close()

    # Change notifications --------------------------------------------------------------------

    async def _track_connection(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        # Stateful connections (Streamable HTTP sessions, SSE streams) are remembered so a
        # configuration change can be announced on them; the SDK unwinds a connection's exit stack
        # when its session ends.
        connection = fastpath.session_connection(ctx.session)
        if connection is not None and connection.has_standalone_channel and connection not in self.connections:
            self.connections.add(connection)
            connection.exit_stack.callback(self.connections.discard, connection)
        return await call_next(ctx)

    async def announce_change(self, record: ServerRecord | None) -> None:
        """Apply a new configuration and tell connected clients to re-list tools and prompts."""
        if record is not None:
            self.server.instructions = record.instructions or None
        for connection in list(self.connections):
            await connection.send_tool_list_changed()
            await connection.send_prompt_list_changed()
        await self.bus.publish(ToolsListChanged())
        await self.bus.publish(PromptsListChanged())

    # Handlers --------------------------------------------------------------------------------

    async def _snapshot(self) -> Any:
        snap = await self.runtime.snapshots.get(self.server_id)
        if snap is None:
            raise MCPError(code=types.INVALID_REQUEST, message="This MCP server no longer exists")
        return snap

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        snap = self.runtime.snapshots.peek(self.server_id)
        if snap is None:
            return None
        return next((t.get("inputSchema") for t in snap.tools if t.get("name") == name), None)

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any], params: Any) -> dict[str, Any]:
        _principal(ctx)
        snap = await self._snapshot()
        extra = system_tools.listed(snap)  # the server's system tools (SPEC §5.5)
        return _complete_result(ctx, {"tools": snap.tools + extra if extra else snap.tools})

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> dict[str, Any]:
        principal = _principal(ctx)
        snap = await self._snapshot()
        if params.name not in snap.tool_names:
            if system_tools.is_enabled(snap, params.name):
                executor = self.runtime.executor
                found = await system_tools.call(executor, snap, params.name, params.arguments, principal, _meta(ctx))
                return _complete_result(ctx, found)
            message = f"Unknown tool: {params.name}"
            self.runtime.executor.audit_tool_call(  # a call of a tool that does not exist is audited too
                snap,
                principal,
                _meta(ctx),
                tool=params.name[:200],
                action="",
                # No schema says which of its arguments are secrets: keep the names only.
                arguments={str(k): audit.REDACTED for k in (params.arguments or {})},
                outcome="invalid",
                error_code="NotFound.Tool",
                error_message=message[:2000],
                started=time.monotonic(),
            )
            raise MCPError(code=types.INVALID_PARAMS, message=message)
        result = await self.runtime.executor.call(snap, params.name, params.arguments, principal, _meta(ctx))
        return _complete_result(ctx, result)

    async def _list_prompts(self, ctx: ServerRequestContext[Any, Any], params: Any) -> dict[str, Any]:
        _principal(ctx)
        snap = await self._snapshot()
        prompts = []
        for p in snap.prompts:
            item: dict[str, Any] = {"name": p["name"]}
            if p.get("description"):
                item["description"] = p["description"]
            item["arguments"] = [
                {k: v for k, v in a.items() if k in ("name", "description", "required") and v not in (None, "")}
                for a in p.get("arguments") or []
            ]
            prompts.append(item)
        return _complete_result(ctx, {"prompts": prompts})

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> dict[str, Any]:
        _principal(ctx)
        snap = await self._snapshot()
        prompt = snap.prompt(params.name)
        if prompt is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
        return _complete_result(ctx, render_prompt(prompt, dict(params.arguments or {})))

    async def _complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> dict[str, Any]:
        _principal(ctx)
        snap = await self._snapshot()
        values: list[str] = []
        ref = params.ref
        if getattr(ref, "type", "") == "ref/prompt":
            prompt = snap.prompt(getattr(ref, "name", ""))
            if prompt is None:
                raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {getattr(ref, 'name', '')}")
            values = completion_values(snap, prompt, params.argument.name, params.argument.value)
        completion = {"values": values[:100], "total": len(values), "hasMore": len(values) > 100}
        return _complete_result(ctx, {"completion": completion})

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> dict[str, Any]:
        return {}


def completion_values(snap: Any, prompt: dict[str, Any], argument: str, prefix: str) -> list[str]:
    """Suggestions for a prompt argument: declared `enum`/`examples`, region ids for region-like names."""
    spec = next((a for a in prompt.get("arguments") or [] if a.get("name") == argument), None)
    if spec is None:
        return []
    candidates: list[str] = [str(v) for v in (spec.get("enum") or spec.get("examples") or [])]
    if not candidates and "region" in argument.lower():
        regions: set[str] = set()
        for binding in (getattr(snap.compiled, "bindings", None) or {}).values():
            regions.update(getattr(binding, "endpoints", None) or {})
        candidates = sorted(regions)
    return [c for c in candidates if c.lower().startswith(prefix.lower())]
