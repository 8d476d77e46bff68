"""An httpcore network backend on the running asyncio loop's own transports.

httpcore (under httpx) does the HTTP: framing with h11, keep-alive, the connection pool, TLS
settings. Its network backend only moves bytes, and `httpcore.AsyncNetworkBackend` is the documented
way to supply one. The default one goes through anyio's socket streams, which for every read and
write open a cancel scope with its own timer and yield to the loop once more, and which answer
"is this idle connection readable?" (asked of every pooled connection whenever a request takes or
returns one) with a dictionary of socket attributes and a `poll` system call. At 16 concurrent
tool calls that bookkeeping cost more than the HTTP itself.

This backend reads with an `asyncio.Protocol`: the loop hands received bytes to `data_received`,
a read waits on one future with one timer for its timeout, and readability is whether bytes or the
end of the stream have arrived, known without a system call. TLS is the loop's `start_tls`.
Errors are httpcore's own exceptions, which httpx maps to its public ones as usual. Only TCP is
offered (the upstream transport never dials a Unix socket).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

from servers import outbound

# Stop reading from the socket while this much is buffered and unread (back-pressure).
HIGH_WATER = 256 * 1024


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.drainer: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake_reader()
        self._wake_drainer()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_drainer()

    def _wake_reader(self) -> None:
        reader = self.reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def _wake_drainer(self) -> None:
        drainer = self.drainer
        if drainer is not None and not drainer.done():
            drainer.set_result(None)


def _expire(future: asyncio.Future[None], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


async def _wait(future: asyncio.Future[None], timeout: float | None, error: Exception) -> None:
    """Wait for `future`; after `timeout` seconds fail with `error` instead."""
    if timeout is None:
        await future
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, future, error)
    try:
        await future
    finally:
        timer.cancel()


class LoopStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks and not protocol.eof and not protocol.lost:
            waiter = protocol.reader = asyncio.get_running_loop().create_future()
            try:
                await _wait(waiter, timeout, httpcore.ReadTimeout("timed out reading from the upstream"))
            finally:
                protocol.reader = None
        if not protocol.chunks:
            if protocol.lost and protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
            return b""  # end of stream
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            protocol.chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        protocol.buffered -= len(chunk)
        if protocol.reading_paused and protocol.buffered <= HIGH_WATER // 4:
            protocol.reading_paused = False
            self._transport.resume_reading()
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise httpcore.WriteError("the upstream connection is closed")
        self._transport.write(buffer)
        if protocol.writing_paused:
            waiter = protocol.drainer = asyncio.get_running_loop().create_future()
            try:
                await _wait(waiter, timeout, httpcore.WriteTimeout("timed out writing to the upstream"))
            finally:
                protocol.drainer = None
            if protocol.lost:
                raise httpcore.WriteError("the upstream connection was lost while writing")

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "timed out in the TLS handshake") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # pragma: no cover - the loop closed it
            raise httpcore.ConnectError("the TLS handshake did not complete")
        self._protocol.transport = transport  # type: ignore[assignment]
        return LoopStream(transport, self._protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof or protocol.lost
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AddressRefused(httpcore.ConnectError):
    """The upstream host resolved to an address the SSRF rule (`servers.outbound`) refuses."""


class LoopBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses `servers.outbound` allows: the host is resolved here, every
    address it resolves to is judged, and the connection goes to a judged address (so a DNS answer
    cannot change between the check and the connect). `allow_private` is UPSTREAM_ALLOW_PRIVATE_URLS."""

    def __init__(self, *, allow_private: bool = True) -> None:
        self.allow_private = allow_private

    async def _addresses(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        refusal = outbound.host_refusal(host, allow_private=self.allow_private, setting=outbound.UPSTREAM_SETTING)
        if refusal:
            raise AddressRefused(refusal)
        try:
            infos = await loop.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refusal = outbound.resolved_refusal(
            addresses, allow_private=self.allow_private, setting=outbound.UPSTREAM_SETTING
        )
        if refusal:
            raise AddressRefused(f"{host} resolves to {refusal}")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._addresses(host, port)
                transport, protocol = await self._connect(loop, addresses, port, local)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in socket_options or ():
            sock.setsockopt(*option)
        return LoopStream(transport, protocol)  # type: ignore[arg-type]

    @staticmethod
    async def _connect(
        loop: asyncio.AbstractEventLoop, addresses: list[str], port: int, local: tuple[str, int] | None
    ) -> tuple[asyncio.BaseTransport, _Protocol]:
        """The first of the judged addresses that accepts a connection (in resolver order)."""
        for address in addresses[:-1]:
            try:
                return await loop.create_connection(_Protocol, address, port, local_addr=local)
            except OSError:
                continue
        return await loop.create_connection(_Protocol, addresses[-1], port, local_addr=local)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
