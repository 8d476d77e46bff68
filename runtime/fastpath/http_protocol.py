"""uvicorn's httptools protocol, sending a response's head and its first body bytes in one write.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, and the
body separately on `http.response.body`: two `send` system calls and, with `TCP_NODELAY`, two
segments, so the client often wakes up twice for one small answer. This protocol holds a response
head until the next write in the same turn of the event loop and sends both together; a head with
no write after it in that turn (a streamed answer that has nothing to send yet, such as an SSE
stream) goes out at the end of the turn, so nothing waits on it. Everything else is uvicorn's.

Use it with `uvicorn --http runtime.fastpath.http_protocol:HttpToolsProtocol` (as `make run` does).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http import httptools_impl


class _CoalescingTransport:
    """A transport that delays a response head (at most to the end of the loop's turn) so that it
    goes out in one write with what follows it."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= 65536:
                self._transport.write(held + bytes(data))
            else:  # no copy of a large body: one vectored write where the loop supports it
                self._transport.writelines((held, data))
        elif isinstance(data, bytes) and data.startswith(b"HTTP/1.") and data.endswith(b"\r\n\r\n"):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpToolsProtocol(httptools_impl.HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
