"""Sending upstream requests: one pooled client per process, credentials applied.

The client is one `httpx.AsyncClient` per process (connection pool limits from settings). It keeps
no cookies: it is shared by every caller of the process.

Bodies are streamed and cut at `MCP_MAX_RESPONSE_BYTES` (the result then says it was truncated);
connect and read timeouts come from the connection or settings. OAuth 2.0 client-credentials
tokens are cached until shortly before they expire.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import anyio
import httpcore
import httpx
from django.conf import settings
from httpx._transports.default import map_httpcore_exceptions  # httpx's own error mapping

from runtime import conf, signing
from runtime.data import ConnectionRecord
from runtime.loop_backend import LoopBackend
from runtime.results import UpstreamResponse


class CredentialError(ValueError):
    """The connection's credentials are incomplete or the token endpoint refused them."""


@dataclass(frozen=True)
class Sent:
    response: UpstreamResponse
    duration_ms: int


class UpstreamClient(httpx.AsyncClient):
    """The process's upstream client; `pool` is its httpcore connection pool, for plain tool calls.

    Tool calls follow no redirects, send no cookies and need no client-side auth, so they go
    straight to the pool under the client's transport (the same connections), skipping the client's
    per-request middleware and httpx's request and response models: about 0.15 ms of CPU per call.
    The request carries what `build_request` would give it (see `tool_request`); errors are mapped
    to httpx's exceptions by httpx's own mapping, and compressed answers are decoded by httpx.
    With proxies from the environment (`pool` is None) the client picks the route.
    """

    def __init__(self, *, transport: UpstreamTransport, trust_env: bool, **kwargs: Any) -> None:
        super().__init__(transport=transport, trust_env=trust_env, **kwargs)
        self.pool: httpcore.AsyncConnectionPool | None = None if trust_env else transport.pool
        self._default_headers = {name.lower(): value for name, value in self.headers.items()}

    def tool_request(self, request: signing.HttpRequest, timeout: dict[str, float | None]) -> httpcore.Request:
        """The request `build_request` would build: `Host` first, the client's default headers under
        the request's own, `Content-Length` for a body (or 0 for a bodiless POST, PUT or PATCH), the
        URL as httpx parses it (the query is already percent-encoded by `signing.encode`)."""
        scheme, host, port, netloc, path = _parsed_url(request.url)
        query = request.query_string()
        headers = dict(self._default_headers)
        for name, value in request.headers.items():
            headers[name.lower()] = value
        body = request.body
        if body:
            headers["content-length"] = str(len(body))
        elif request.method in _EMPTY_BODY_LENGTH and not ({"content-length", "transfer-encoding"} & headers.keys()):
            headers["content-length"] = "0"
        raw = [(b"host", netloc)] if "host" not in headers else []
        raw += [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
        target = path + b"?" + query.encode("ascii") if query else path
        return httpcore.Request(
            request.method.encode("ascii"),
            httpcore.URL(scheme=scheme, host=host, port=port, target=target),
            headers=raw,
            content=body or None,
            extensions={"timeout": timeout},
        )


_EMPTY_BODY_LENGTH = frozenset({"POST", "PUT", "PATCH"})


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> tuple[bytes, bytes, int | None, bytes, bytes]:
    """httpx's reading of a request URL (no query): scheme, host, port, Host header, path."""
    parsed = httpx.URL(url)
    return parsed.raw_scheme, parsed.raw_host, parsed.port, parsed.netloc, parsed.raw_path


class _Body(httpx.AsyncByteStream):
    """An httpcore response body as an httpx stream, so httpx can decode a compressed answer."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_stream():
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class UpstreamTransport(httpx.AsyncHTTPTransport):
    """httpx's pooled transport whose httpcore pool moves bytes with `LoopBackend` (the loop's own
    transports) instead of anyio's socket streams; HTTP, pooling and TLS stay httpcore's."""

    def __init__(
        self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None, allow_private: bool = True
    ) -> None:
        ssl_context = ssl_context or httpx.create_ssl_context()
        super().__init__(verify=ssl_context, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=LoopBackend(allow_private=allow_private),
        )

    @property
    def pool(self) -> httpcore.AsyncConnectionPool:
        """The httpcore pool this transport sends through (tool calls use it directly)."""
        return self._pool


def new_client() -> UpstreamClient:
    max_connections = int(conf.get("MCP_UPSTREAM_MAX_CONNECTIONS"))
    max_keepalive = int(conf.get("MCP_UPSTREAM_MAX_KEEPALIVE"))
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    # No redirects: a signed request must not be replayed elsewhere; no proxy settings from the
    # environment unless asked for; no cookies kept between calls of different callers.
    return UpstreamClient(
        # Every connection is checked against the SSRF rule once its host is resolved (LoopBackend).
        transport=UpstreamTransport(limits=limits, allow_private=bool(settings.UPSTREAM_ALLOW_PRIVATE_URLS)),
        trust_env=bool(conf.get("MCP_UPSTREAM_TRUST_ENV")),
        limits=limits,
        follow_redirects=False,
        headers={"user-agent": "openapi-mcp-console/1.0"},
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )


class TokenCache:
    """OAuth 2.0 client-credentials access tokens by (token URL, client id, scope)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str, str], anyio.Lock] = {}

    async def get(self, client: httpx.AsyncClient, config: dict[str, Any], secrets: dict[str, Any]) -> str:
        token_url = str(config.get("token_url") or "")
        client_id = str(config.get("client_id") or "")
        scope = str(config.get("scope") or "")
        client_secret = str(secrets.get("client_secret") or "")
        if not token_url or not client_id or not client_secret:
            raise CredentialError("The connection's OAuth 2.0 client credentials are incomplete")
        key = (token_url, client_id, scope)
        cached = self._tokens.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.time():
                return cached[0]
            form = {"grant_type": "client_credentials"}
            if scope:
                form["scope"] = scope
            auth: Any = None
            if config.get("client_auth") == "post":
                form.update(client_id=client_id, client_secret=client_secret)
            else:
                auth = (client_id, client_secret)
            try:
                response = await client.post(token_url, data=form, auth=auth, timeout=10)
            except httpx.HTTPError as exc:
                raise CredentialError(f"The token endpoint could not be reached: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise CredentialError(
                    f"The token endpoint refused the client credentials (HTTP {response.status_code})"
                )
            try:
                payload = response.json()
                token = str(payload["access_token"])
            except (ValueError, KeyError):
                raise CredentialError("The token endpoint's answer has no access_token") from None
            lifetime = float(payload.get("expires_in") or 300)
            self._tokens[key] = (token, time.time() + max(lifetime - 30, lifetime / 2))
            return token

    def clear(self) -> None:
        self._tokens.clear()


async def apply_credentials(
    request: signing.HttpRequest,
    connection: ConnectionRecord | None,
    *,
    action: str,
    version: str,
    client: httpx.AsyncClient,
    tokens: TokenCache,
) -> None:
    """Authenticate `request` with the connection's credentials (in place)."""
    if connection is None or connection.auth_type == "none":
        return
    config, secrets = connection.auth_config, connection.secrets
    kind = connection.auth_type
    if kind == "alibaba_ak":
        key_id, secret = str(config.get("access_key_id") or ""), str(secrets.get("access_key_secret") or "")
        if not key_id or not secret:
            raise CredentialError("The connection's AccessKey is incomplete")
        signing.sign_acs3(
            request,
            action=action,
            version=version,
            access_key_id=key_id,
            access_key_secret=secret,
            security_token=str(secrets.get("security_token") or ""),
        )
    elif kind == "api_key":
        key = str(secrets.get("api_key") or "")
        if not key:
            raise CredentialError("The connection's API key is missing")
        signing.apply_api_key(
            request,
            key=key,
            name=str(config.get("name") or "X-Api-Key"),
            location=str(config.get("in") or "header"),
            prefix=str(config.get("prefix") or ""),
        )
    elif kind == "bearer":
        token = str(secrets.get("token") or "")
        if not token:
            raise CredentialError("The connection's bearer token is missing")
        signing.apply_bearer(request, token)
    elif kind == "basic":
        signing.apply_basic(request, str(config.get("username") or ""), str(secrets.get("password") or ""))
    elif kind == "oauth2_client_credentials":
        signing.apply_bearer(request, await tokens.get(client, config, secrets))
    else:
        raise CredentialError(f"Unknown authentication type {kind}")


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> dict[str, float | None]:
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect).as_dict()


async def send(
    client: httpx.AsyncClient,
    request: signing.HttpRequest,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> Sent:
    """Send and read at most `max_bytes` of the body (streamed); raises httpx errors."""
    timeout = _timeout(connect_timeout, read_timeout)
    started = time.monotonic()
    if isinstance(client, UpstreamClient) and client.pool is not None:
        with map_httpcore_exceptions():
            answer = await client.pool.handle_async_request(client.tool_request(request, timeout))
            try:
                status, headers = answer.status, httpx.Headers(answer.headers)
                if headers.get("content-encoding", "identity") == "identity":
                    body, truncated = await _read(answer.aiter_stream(), max_bytes)
                else:
                    decoded = httpx.Response(status, headers=headers, stream=_Body(answer))
                    body, truncated = await _read(decoded.aiter_bytes(), max_bytes)
            finally:
                await answer.aclose()
    else:
        outgoing = client.build_request(
            request.method, request.full_url(), headers=request.headers, content=request.body or None
        )
        outgoing.extensions["timeout"] = timeout
        response = await client.send(outgoing, stream=True)
        try:
            status, headers = response.status_code, response.headers
            body, truncated = await _read(response.aiter_bytes(), max_bytes)
        finally:
            await response.aclose()
    return Sent(
        UpstreamResponse(
            status=status,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            truncated=truncated,
            limit=max_bytes,
        ),
        int((time.monotonic() - started) * 1000),
    )


async def _read(chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[bytes, bool]:
    """The body, cut at `max_bytes`, and whether it was cut."""
    body = bytearray()
    async for chunk in chunks:
        room = max_bytes - len(body)
        if len(chunk) > room:
            body.extend(chunk[:room])
            return bytes(body), True
        body.extend(chunk)
    return bytes(body), False
