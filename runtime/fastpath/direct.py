"""Tool calls sent straight to the upstream client's httpcore pool, on `LoopBackend`.

`UpstreamTransport` is httpx's pooled transport whose httpcore pool moves bytes with `LoopBackend`
(the loop's own transports) instead of anyio's socket streams; HTTP, pooling and TLS stay
httpcore's. `UpstreamClient` is the process's `httpx.AsyncClient` over it.

Tool calls follow no redirects, send no cookies and need no client-side auth, so `send_direct`
hands them to the pool under the client's transport (the same connections), skipping the client's
per-request middleware and httpx's request and response models: about 0.15 ms of CPU per call
(docs/performance.md, step 10). The request carries what `build_request` would give it (see
`tool_request`); errors are mapped to httpx's exceptions by httpx's own mapping, and compressed
answers are decoded by httpx. With proxies from the environment (`pool` is None) the caller sends
through the client, which picks the route.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

from runtime import signing
from runtime.fastpath import internals
from runtime.fastpath.loop_backend import LoopBackend


class UpstreamTransport(httpx.AsyncHTTPTransport):
    """httpx's pooled transport whose httpcore pool uses `LoopBackend`."""

    def __init__(
        self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None, allow_private: bool = True
    ) -> None:
        ssl_context = ssl_context or httpx.create_ssl_context()
        super().__init__(verify=ssl_context, limits=limits)
        self._loop_pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=LoopBackend(allow_private=allow_private),
        )
        internals.replace_pool(self, self._loop_pool)

    @property
    def pool(self) -> httpcore.AsyncConnectionPool:
        """The httpcore pool this transport sends through (tool calls use it directly)."""
        return self._loop_pool


class UpstreamClient(httpx.AsyncClient):
    """The process's upstream client; `pool` is its httpcore connection pool, for plain tool calls
    (None with proxies from the environment: those requests must go through the client)."""

    def __init__(self, *, transport: UpstreamTransport, trust_env: bool, **kwargs: Any) -> None:
        super().__init__(transport=transport, trust_env=trust_env, **kwargs)
        self.pool: httpcore.AsyncConnectionPool | None = None if trust_env else transport.pool
        self.default_headers = {name.lower(): value for name, value in self.headers.items()}

    def tool_request(self, request: signing.HttpRequest, timeout: dict[str, float | None]) -> httpcore.Request:
        """The request `build_request` would build: `Host` first, the client's default headers under
        the request's own, `Content-Length` for a body (or 0 for a bodiless POST, PUT or PATCH), the
        URL as httpx parses it (the query is already percent-encoded by `signing.encode`)."""
        scheme, host, port, netloc, path = _parsed_url(request.url)
        query = request.query_string()
        headers = dict(self.default_headers)
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


async def send_direct(
    client: httpx.AsyncClient, request: signing.HttpRequest, timeout: dict[str, float | None], max_bytes: int
) -> tuple[int, httpx.Headers, bytes, bool] | None:
    """(status, headers, body cut at `max_bytes`, whether it was cut) of `request` sent straight to
    the client's pool; None when this client must send it itself (not an `UpstreamClient`, or
    proxies from the environment). Raises httpx's errors, as the client would."""
    if not isinstance(client, UpstreamClient) or client.pool is None:
        return None
    with internals.map_httpcore_exceptions():
        answer = await client.pool.handle_async_request(client.tool_request(request, timeout))
        try:
            status, headers = answer.status, httpx.Headers(answer.headers)
            if headers.get("content-encoding", "identity") == "identity":
                body, truncated = await read_capped(answer.aiter_stream(), max_bytes)
            else:
                decoded = httpx.Response(status, headers=headers, stream=_Body(answer))
                body, truncated = await read_capped(decoded.aiter_bytes(), max_bytes)
        finally:
            await answer.aclose()
    return status, headers, body, truncated


async def read_capped(chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[bytes, bool]:
    """The body, cut at `max_bytes`, and whether it was cut."""
    body = bytearray()
    async for chunk in chunks:
        room = max_bytes - len(body)
        if len(chunk) > room:
            body.extend(chunk[:room])
            return bytes(body), True
        body.extend(chunk)
    return bytes(body), False
