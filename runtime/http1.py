"""A lean HTTP/1.1 client for upstream calls: asyncio connections, httptools' parser, keep-alive pool.

Why: on the machines we measured, httpx + httpcore spend about 0.7 ms of CPU on one small
request (h11 in pure Python, anyio streams, cancel scopes and locks per read and write), half of
what a whole tool call costs and more than the rest of the runtime together (docs/performance.md).
This module does the same exchange in about a tenth of that: one write of the request, the
response parsed by `httptools` (llhttp, the C parser uvicorn serves with; already a dependency),
connections kept alive per origin.

Scope, kept deliberately small; `runtime.upstream` sends anything else through the httpx client:

- `http` and `https` (TLS context from `httpx.create_ssl_context()`, so the same CA bundle and
  `SSL_CERT_FILE`/`SSL_CERT_DIR` handling as httpx), HTTP/1.1 only, no proxies, no HEAD;
- request bodies of known length; responses with `Content-Length`, chunked or close-delimited
  bodies, `gzip`/`deflate` content encodings (the ones advertised), 1xx interim answers skipped;
- the request as httpx writes it: `Host`, `Content-Length` (also `0` for an empty POST, PUT or
  PATCH), the client's default headers (`Accept`, `Accept-Encoding`, `Connection`, `User-Agent`),
  then the request's own headers, which override defaults case-insensitively;
- at most `max_connections` connections (waiting up to the connect timeout for a free one), at
  most `max_keepalive` idle ones, idle ones closed after 5 s (httpcore's keep-alive expiry);
- failures raise httpx's exception types (`ConnectError`, `ConnectTimeout`, `PoolTimeout`,
  `ReadTimeout`, `ReadError`, `RemoteProtocolError`, `DecodingError`), so callers handle one family.

No cookies are kept: one process serves many callers, whose cookies must never mix.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import zlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx

KEEPALIVE_EXPIRY = 5.0
_DECODABLE = ("gzip", "deflate")
# Targets sent as they are: already percent-encoded URLs (what runtime.build produces). Anything
# else (spaces, non-ASCII, …) goes through httpx, which normalises it.
_SAFE_TARGET = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")
_SAFE_HOST = re.compile(r"^[A-Za-z0-9\-._\[\]:]+$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Result:
    """A complete (or deliberately cut) response."""

    __slots__ = ("status", "headers", "body", "truncated")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, truncated: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " (what httpx's `Headers.items()` gives)."""
    for encoding in ("ascii", "utf-8"):
        try:
            pairs = [(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw]
            break
        except UnicodeDecodeError:
            continue
    else:
        pairs = [(k.decode("iso-8859-1").lower(), v.decode("iso-8859-1")) for k, v in raw]
    headers: dict[str, str] = {}
    for key, value in pairs:
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class _Decoder:
    """gzip / deflate content decoding (httpx's GZipDecoder and DeflateDecoder)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.first = True
        wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else -zlib.MAX_WBITS
        self.obj = zlib.decompressobj(wbits)

    def decode(self, data: bytes) -> bytes:
        try:
            if self.encoding == "deflate" and self.first:
                self.first = False
                try:
                    return self.obj.decompress(data)
                except zlib.error:  # a zlib-wrapped stream, which servers also send as "deflate"
                    self.obj = zlib.decompressobj()
                    return self.obj.decompress(data)
            return self.obj.decompress(data)
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from None

    def flush(self) -> bytes:
        try:
            return self.obj.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from None


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; `exchange` sends a request and waits for its response."""

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[Result] | None = None
        self.parser: Any = None
        self._reset(0)

    def _reset(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.body = bytearray()
        self.truncated = False
        self.headers_done = False
        self.complete = False
        self.close_delimited = False
        self.decoder: _Decoder | None = None
        self.last_read = 0.0

    # asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        self.last_read = time.monotonic()
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # the parser's own errors, or one raised by a callback below
            cause = exc if isinstance(exc, httpx.HTTPError) else exc.__context__ or exc.__cause__
            if isinstance(cause, httpx.HTTPError):
                self._fail(cause)
            else:
                self._fail(httpx.RemoteProtocolError(f"Invalid HTTP response: {exc}"))
            return
        if self.truncated or self.complete:
            self._finish()

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    def _ended(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and self.close_delimited and exc is None:
            self.complete = True  # the body ran to the end of the connection
            self._finish()
        elif exc is not None:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))
        elif not self.headers_done and not self.raw_headers:
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
        else:
            self._fail(httpx.RemoteProtocolError("Server disconnected before the response was complete."))

    # httptools callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            return
        self.headers_done = True
        length = chunked = False
        encoding = ""
        for name, value in self.raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = True
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif lowered == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
        no_body = self.status in (204, 304)
        self.close_delimited = not (length or chunked or no_body)
        if encoding and encoding != "identity":
            if encoding not in _DECODABLE:
                raise httpx.DecodingError(f"Unsupported content encoding {encoding}")
            self.decoder = _Decoder(encoding)

    def on_body(self, data: bytes) -> None:
        if self.truncated or not self.headers_done:
            return
        if self.decoder is not None:
            data = self.decoder.decode(data)
        self._append(data)

    def on_message_complete(self) -> None:
        if self.status < 200:  # 1xx interim answer: the real one follows
            self.raw_headers = []
            return
        if self.decoder is not None and not self.truncated:
            self._append(self.decoder.flush())
        self.complete = True

    def _append(self, data: bytes) -> None:
        room = self.max_bytes - len(self.body)
        if len(data) > room:
            self.body.extend(data[:room])
            self.truncated = True
        else:
            self.body.extend(data)

    # Exchanges --------------------------------------------------------------------------------

    def _finish(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if self.decoder is not None and self.close_delimited and not self.truncated:
                try:
                    self._append(self.decoder.flush())
                except httpx.DecodingError as exc:
                    waiter.set_exception(exc)
                    return
            waiter.set_result(Result(self.status, _decode_headers(self.raw_headers), bytes(self.body), self.truncated))

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def reusable(self) -> bool:
        return (
            not self.closed
            and self.complete
            and not self.truncated
            and not self.close_delimited
            and self.parser is not None
            and self.parser.should_keep_alive()
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, data: bytes, read_timeout: float, max_bytes: int) -> Result:
        loop = asyncio.get_running_loop()
        self._reset(max_bytes)
        self.parser = httptools.HttpResponseParser(self)
        self.waiter = waiter = loop.create_future()
        assert self.transport is not None
        self.transport.write(data)
        self.last_read = time.monotonic()

        def check() -> None:
            if waiter.done():
                return
            idle = time.monotonic() - self.last_read
            if idle >= read_timeout:
                self._fail(httpx.ReadTimeout("Timed out reading the upstream response"))
            else:
                timers[0] = loop.call_later(read_timeout - idle, check)

        timers = [loop.call_later(read_timeout, check)]
        try:
            return await waiter
        finally:
            timers[0].cancel()
            self.waiter = None


class Pool:
    """Keep-alive connections per (scheme, host, port), for the lifetime of one event loop."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_keepalive: int,
        default_headers: Iterable[tuple[bytes, bytes]],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_keepalive = max_keepalive
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_count = 0
        self._ssl = ssl_context
        # The client's defaults, with Accept-Encoding limited to what this module decodes.
        defaults: list[tuple[str, str]] = []
        for name, value in default_headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            if key.lower() == "accept-encoding":
                text = ", ".join(e for e in (p.strip() for p in text.split(",")) if e in _DECODABLE) or "identity"
            defaults.append((key, text))
        self._defaults = defaults
        self._closed = False

    @staticmethod
    def accepts(method: str, url: str) -> bool:
        """True when this pool can send the request exactly as httpx would."""
        if method == "HEAD" or not url.startswith(("http://", "https://")):
            return False
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            return False
        return (
            bool(parts.hostname)
            and bool(_SAFE_HOST.match(parts.netloc.rpartition("@")[2]))
            and ("@" not in parts.netloc)
            and bool(_SAFE_TARGET.match(url[len(parts.scheme) + 3 + len(parts.netloc) :]))
        )

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_bytes: int,
    ) -> Result:
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        default_port = 443 if scheme == "https" else 80
        port = parts.port or default_port
        target = url[len(scheme) + 3 + len(parts.netloc) :] or "/"
        if target.startswith("?"):
            target = "/" + target
        target = target.partition("#")[0]
        head = self._head(method, target, parts, port, default_port, headers, body)
        key = (scheme, host, port)
        await self._acquire(connect_timeout)
        connection: _Connection | None = None
        try:
            connection = self._take_idle(key) or await self._connect(key, connect_timeout)
            result = await connection.exchange(head + body if body else head, read_timeout, max_bytes)
            if connection.reusable():
                self._put_idle(connection)
                connection = None
            return result
        finally:
            if connection is not None:
                connection.close()
            self._slots.release()

    def _head(
        self, method: str, target: str, parts: Any, port: int, default_port: int, headers: dict[str, str], body: bytes
    ) -> bytes:
        given = {k.lower() for k in headers}
        lines = [f"{method} {target} HTTP/1.1"]
        if "host" not in given:
            netloc_host = parts.netloc.rpartition("@")[2].lower()
            if parts.port == default_port:
                netloc_host = netloc_host.rsplit(":", 1)[0]
            lines.append(f"Host: {netloc_host}")
        if "content-length" not in given and "transfer-encoding" not in given and (body or method in _BODY_METHODS):
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in self._defaults if k.lower() not in given)
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        for line in lines:
            if "\r" in line or "\n" in line:
                raise httpx.LocalProtocolError("Illegal header value")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")  # httpx refuses non-ASCII header values too

    async def _acquire(self, timeout: float) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except TimeoutError:
            raise httpx.PoolTimeout("No upstream connection became free in time") from None

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not connection.closed and now - connection.idle_since < KEEPALIVE_EXPIRY:
                return connection
            connection.close()
        return None

    def _put_idle(self, connection: _Connection) -> None:
        if self._closed or self._idle_count >= self.max_keepalive:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)
        self._idle_count += 1

    async def _connect(self, key: tuple[str, str, int], timeout: float) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if scheme == "https" else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(key),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                    ssl_handshake_timeout=timeout if context is not None else None,
                ),
                timeout,
            )
        except TimeoutError:
            raise httpx.ConnectTimeout("Timed out connecting to the upstream API") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return connection

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
