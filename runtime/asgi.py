"""The MCP ASGI application: routing, network and token checks, then the SDK's transports.

`config.asgi` sends every path for which `handles(path)` is true here and runs `lifespan()`
around the process, which owns the shared upstream HTTP client, the audit writer, the event
subscription (Redis pub/sub when configured) and one task group for the SDK session managers.

A request is checked against DNS rebinding (Host/Origin from `ALLOWED_HOSTS`, by the SDK's
transport security), its bearer token verified (`runtime.auth`; the same 401 challenge whether
or not the server exists), matched to its server (404 `NotFound.ApiMcpServer` otherwise), checked
for network and public access (`runtime.network_access`) and the token's audience, client and
account, then handed to that server's transport (`runtime.mcp.ServerRuntime`). The RFC 9728
metadata document of each endpoint is served here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup
from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from config import database
from runtime import auth, conf, edge, fastpath, limits, network_access, routes, upstream
from runtime.audit import AuditWriter
from runtime.data import ServerRecord
from runtime.executor import Executor, new_request_id
from runtime.mcp import ServerRuntime
from runtime.snapshot import SnapshotCache
from servers import events

logger = logging.getLogger(__name__)


def handles(path: str) -> bool:
    return routes.handles(path)


def transport_security() -> TransportSecuritySettings:
    """DNS-rebinding protection from `ALLOWED_HOSTS` (any port); `*` turns it off."""
    hosts = [h for h in settings.ALLOWED_HOSTS if h]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    allowed_hosts: list[str] = []
    origins: list[str] = []
    for host in hosts:
        if host.startswith("."):
            logger.warning("ALLOWED_HOSTS pattern %s is not supported on MCP endpoints; list hosts explicitly", host)
            continue
        allowed_hosts += [host, f"{host}:*"]
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    for base in (settings.PUBLIC_BASE_URL, settings.INTERNAL_BASE_URL):
        parts = urlsplit(base)
        if parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return TransportSecuritySettings(allowed_hosts=allowed_hosts, allowed_origins=origins)


class Runtime:
    """Per-process state of the MCP runtime (created by `lifespan`)."""

    def __init__(self, task_group: TaskGroup, client: Any) -> None:
        self.task_group = task_group
        self.client = client
        self.writer = AuditWriter(
            max_queue=int(conf.get("MCP_AUDIT_QUEUE_SIZE")), flush_interval=int(conf.get("MCP_AUDIT_FLUSH_MS")) / 1000
        )
        self.executor = Executor(client, self.writer)
        self.snapshots = SnapshotCache(spawn=task_group.start_soon)
        self.transport_security = transport_security()
        self.security = TransportSecurityMiddleware(self.transport_security)
        self.max_request_bytes = int(conf.get("MCP_MAX_REQUEST_BYTES"))
        self.session_idle_timeout = float(conf.get("MCP_SESSION_IDLE_SECONDS"))
        self.servers: dict[str, ServerRuntime] = {}
        # Open sessions and streams per user and per server in this process (runtime.limits).
        self.sessions = limits.Caps("sessions", "MCP_MAX_SESSIONS_PER_USER", "MCP_MAX_SESSIONS_PER_SERVER")
        self.streams = limits.Caps("streams", "MCP_MAX_STREAMS_PER_USER", "MCP_MAX_STREAMS_PER_SERVER")
        send, receive = anyio.create_memory_object_stream[tuple[str, str]](10_000)
        self._events_in, self._events_out = send, receive
        self._loop = asyncio.get_running_loop()

    def server_runtime(self, record: ServerRecord) -> ServerRuntime:
        found = self.servers.get(record.id)
        if found is None:
            found = self.servers[record.id] = ServerRuntime(self, record)
        return found

    # Events (any thread) → this loop ----------------------------------------------------------

    def on_event(self, topic: str, key: str) -> None:
        def put() -> None:
            try:
                self._events_in.send_nowait((topic, key))
            except (anyio.WouldBlock, anyio.ClosedResourceError):
                logger.error("runtime event queue full; dropping caches instead")
                self.snapshots.clear()
                auth.principals.clear()

        with contextlib.suppress(RuntimeError):  # the loop is closed: this process is shutting down
            self._loop.call_soon_threadsafe(put)

    async def process_events(self) -> None:
        async with self._events_out:
            async for topic, key in self._events_out:
                try:
                    await self._apply(topic, key)
                except Exception:
                    logger.exception("applying event %s %s failed", topic, key)

    async def _apply(self, topic: str, key: str) -> None:
        if topic != "server":
            auth.on_event(topic, key)
            return
        self.snapshots.invalidate(key)
        self.executor.connections.clear()
        live = self.servers.get(key)
        if live is None:
            return
        snap = await self.snapshots.get(key)
        if snap is None:
            self.servers.pop(key, None)
            live.stop()
        else:
            await live.announce_change(snap.record)

    def close_events(self) -> None:
        self._events_in.close()


_runtime: Runtime | None = None


def current() -> Runtime | None:
    return _runtime


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    global _runtime
    async with upstream.new_client() as client, anyio.create_task_group() as tg:
        runtime = Runtime(tg, client)
        auth.principals.clear()
        writer_done = anyio.Event()

        async def write_audit() -> None:
            try:
                await runtime.writer.run()
            finally:
                writer_done.set()

        tg.start_soon(write_audit)
        tg.start_soon(runtime.process_events)
        if settings.REDIS_URL:
            subscribed = anyio.Event()
            tg.start_soon(events.listen_redis, settings.REDIS_URL, subscribed.set)
            with anyio.move_on_after(3):
                await subscribed.wait()
        events.subscribe_all(runtime.on_event)
        _runtime = runtime
        try:
            yield
        finally:
            if _runtime is runtime:  # another lifespan in this process (tests run servers in turn) may own it now
                _runtime = None
            events.unsubscribe_all(runtime.on_event)
            for live in list(runtime.servers.values()):
                live.stop()
            runtime.close_events()
            runtime.writer.close()
            with anyio.move_on_after(10, shield=True):
                await writer_done.wait()
            tg.cancel_scope.cancel()


# Responses ---------------------------------------------------------------------------------------


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def not_found(request_id: str) -> dict[str, Any]:
    return {"requestId": request_id, "code": "NotFound.ApiMcpServer", "message": "The MCP server does not exist"}


def client_ip(scope: Scope) -> str:
    """The caller's address; `X-Forwarded-For` counts only when the peer is a trusted proxy."""
    peer = (scope.get("client") or ("", 0))[0]
    trusted = [t for t in settings.TRUSTED_PROXIES if t]
    if not trusted or not peer:
        return str(peer)

    def is_trusted(ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(t, strict=False) for t in trusted)

    if not is_trusted(peer):
        return str(peer)
    forwarded = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"), "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted(hop):
            return hop
    return str(peer)


def _is_internal(scope: Scope) -> bool:
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "").lower()
    internal = urlsplit(settings.INTERNAL_BASE_URL).netloc.lower()
    public = urlsplit(settings.PUBLIC_BASE_URL).netloc.lower()
    return bool(internal) and host == internal and internal != public


# The application ---------------------------------------------------------------------------------


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    request_id = new_request_id()
    started = False

    async def tracking_send(message: Any) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await _serve(scope, receive, tracking_send, request_id)
    except Exception as exc:
        if database.pool_exhausted(exc):  # every pooled database connection stayed busy: retry
            logger.warning("MCP request %s: %s", request_id, database.busy_message())
            if not started:
                retry = [(b"retry-after", database.RETRY_AFTER_SECONDS.encode())]
                await send_json(send, 503, database.busy_body(request_id), retry)
            return
        logger.exception("MCP request %s %s failed (request %s)", scope.get("method"), scope.get("path"), request_id)
        if not started:
            await send_json(
                send,
                500,
                {
                    "requestId": request_id,
                    "code": "InternalServerError",
                    "message": "Internal error; see the request id",
                },
            )


async def _serve(scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
    runtime = _runtime
    route = routes.parse(scope["path"])
    if route is None or runtime is None or scope["type"] != "http":
        await send_json(send, 404, not_found(request_id))
        return
    refused = await runtime.security.validate_request(Request(scope, receive), is_post=False)
    if refused is not None:
        await refused(scope, receive, edge.jsonrpc_errors(send))
        return
    # Metadata and the 401 challenge come before the server is looked up: without credentials,
    # a server that does not exist looks like one that does.
    if route.endpoint == "metadata":
        await _metadata(scope, send, route, await _record(runtime, route))
        return
    try:
        principal, token = await auth.verify(scope)
    except auth.AuthFailure as failure:
        await auth.send_auth_failure(failure, scope, send, route.resource_path)
        return
    record = await _record(runtime, route)
    if record is None:
        await send_json(send, 404, not_found(request_id))
        return
    source_ip = client_ip(scope)
    blocked = await network_access.refusal(record, internal=_is_internal(scope), source_ip=source_ip)
    if blocked is not None:  # public access off, or an address outside the internal URL's whitelist
        code, why = blocked
        network_access.audit_refusal(
            runtime.writer,
            record,
            principal,
            code=code,
            message=why,
            source_ip=source_ip,
            request_id=request_id,
            method=str(scope.get("method", "")),
            endpoint=route.endpoint,
        )
        await send_json(send, 403, {"requestId": request_id, "code": code, "message": why})
        return
    try:
        auth.check_access(
            principal,
            scope,
            server_id=record.id,
            account_id=record.account_id,
            oauth_client_id=record.oauth_client_id,
            base_path=route.base_path,
        )
    except auth.AuthFailure as failure:
        await auth.send_auth_failure(failure, scope, send, route.resource_path)
        return
    scope = dict(scope)
    sdk_token = principal.sdk_token(token)
    scope["user"] = AuthenticatedUser(sdk_token)
    scope["auth"] = AuthCredentials(sdk_token.scopes)
    scope["mcp.principal"] = principal
    scope["mcp.source_ip"] = source_ip
    scope["mcp.request_id"] = request_id
    live = runtime.server_runtime(record)
    if route.endpoint == "sse":
        if scope["method"] != "GET":
            await send_json(
                send,
                405,
                {"requestId": request_id, "code": "MethodNotAllowed", "message": "Use GET"},
                [(b"allow", b"GET")],
            )
            return
        await live.handle_sse(scope, receive, edge.jsonrpc_errors(send), route.base_path)
        return
    message = None
    if scope["method"] == "POST":  # one JSON-RPC message, checked once for every path (runtime.edge)
        try:
            body, message = await edge.read_message(scope, receive, int(conf.get("MCP_MAX_REQUEST_BYTES")))
        except edge.Rejected as rejected:
            await rejected.send(send)
            return
        except edge.ClientGone:
            return
        receive = edge.replay(body, receive)
    if route.endpoint == "mcp":
        stateless = bool(conf.get("MCP_STATELESS_HTTP"))
        # Plain stateless tools/list and tools/call are answered here (runtime.fastpath.stateless);
        # the rest goes to the SDK with the body replayed.
        if (
            message is not None
            and stateless
            and conf.get("MCP_FAST_PATH")
            and await fastpath.serve_stateless(live, scope, message, send)
        ):
            return
        await live.handle_mcp(scope, receive, edge.jsonrpc_errors(send), stateless=stateless, message=message)
    else:
        await live.handle_messages(scope, receive, edge.jsonrpc_errors(send))


async def _record(runtime: Runtime, route: routes.Route) -> ServerRecord | None:
    """The server the path names, or None when there is none with that id, account and name."""
    snap = await runtime.snapshots.get(route.server_id)
    record = snap.record if snap is not None else None
    if (
        record is None
        or record.account_id != route.account_id
        or record.source_type != route.source_type
        or (route.source_type == "custom" and record.name != route.name)
        or (route.source_type == "system" and route.name not in (record.name, record.system_name))
        or (route.product and route.product.lower() != record.system_product.lower())
    ):
        return None
    return record


async def _metadata(scope: Scope, send: Send, route: routes.Route, record: ServerRecord | None) -> None:
    """RFC 9728 protected-resource metadata (`runtime.auth.resource_metadata`), for any well-formed path."""
    cors = [(b"access-control-allow-origin", b"*"), (b"cache-control", b"public, max-age=300")]
    if scope["method"] == "OPTIONS":
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [*cors, (b"access-control-allow-methods", b"GET, OPTIONS")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    client_id = record.oauth_client_id if record is not None else ""
    document = auth.resource_metadata(scope, route.resource_path, route.name, client_id)
    await send_json(send, 200, document, cors)
