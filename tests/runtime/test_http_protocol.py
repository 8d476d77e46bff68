"""`runtime.fastpath.http_protocol`: uvicorn's protocol with a response's head and first body bytes in one
write, checked on the wire with a raw socket against a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.conftest import free_port

# /stream sends its body only once /release has been requested (set in the server's event loop).
_released: dict[str, asyncio.Event] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    headers = [(b"content-type", b"text/plain")]
    released = _released.setdefault("stream", asyncio.Event())
    if scope["path"] == "/release":
        released.set()
    if scope["path"] == "/stream":  # a head, then body parts later (as an SSE stream does)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await released.wait()
        await send({"type": "http.response.body", "body": b"part one;", "more_body": True})
        await send({"type": "http.response.body", "body": b"part two", "more_body": False})
        return
    body = b"hello from " + scope["path"].encode()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", http="runtime.fastpath.http_protocol:HttpToolsProtocol"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def request(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def test_small_answers_arrive_whole_on_a_kept_alive_connection(server_port):
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as sock:
        for path in ("/one", "/two"):  # the second on the same kept-alive connection
            request(sock, path)
            received = b""
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = int(next(line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:"))[15:])
            while len(body) < length:
                body += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert body == b"hello from " + path.encode()


def test_a_streamed_answer_sends_its_head_without_waiting_for_the_body(server_port):
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as sock:
        request(sock, "/stream")
        head = sock.recv(65536)  # no body part is sent before /release is requested below
        assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server_port), timeout=10) as other:
            request(other, "/release")
            assert other.recv(65536).startswith(b"HTTP/1.1 200 OK")
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before the end of the stream"
            rest += chunk
        assert b"part one;" in rest and b"part two" in rest


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed


def test_the_transport_joins_a_head_with_the_next_write_only():
    from runtime.fastpath.http_protocol import _CoalescingTransport

    async def main() -> tuple[list[bytes], bool, int]:
        recorded = RecordingTransport()
        transport = _CoalescingTransport(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        pending = transport.get_write_buffer_size()
        transport.write(b"body")
        transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await asyncio.sleep(0)  # nothing followed in that turn of the loop: the held head's flush ran first
        transport.write(b"4\r\nlate\r\n")
        transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        transport.close()  # a held head is written before the connection closes
        return recorded.writes, transport.is_closing(), pending

    writes, closing, pending = asyncio.run(main())
    assert writes == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        b"4\r\nlate\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ]
    assert closing is True
    assert pending == len(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")


def test_a_large_body_follows_its_head_in_order():
    from runtime.fastpath.http_protocol import _CoalescingTransport

    class Lines(RecordingTransport):
        def writelines(self, chunks: Any) -> None:
            self.writes.append(b"".join(chunks))

    async def main() -> list[bytes]:
        recorded = Lines()
        transport = _CoalescingTransport(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
        transport.write(b"x" * 100_000)
        return recorded.writes

    assert asyncio.run(main()) == [b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100_000]
