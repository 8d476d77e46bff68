"""The upstream transport (httpx over httpcore with `runtime.fastpath.loop_backend`) against real loopback
servers: plain and TLS, keep-alive reuse, large bodies both ways, a connection the server dropped
while idle, timeouts and refused connections. On both event loops the runtime can run on."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runtime.upstream import UpstreamTransport
from tests.runtime.raw_http import read_request

BIG = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: Any) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    def runner(main: Callable[[], Awaitable[Any]]) -> Any:
        if request.param == "uvloop":
            return uvloop.run(main())
        return asyncio.run(main())

    return runner


class Upstream:
    """A small HTTP/1.1 server: /small, /big (1 MiB), /echo (POST), /slow (answers after 2 s),
    /drop (answers, then closes the connection after 50 ms of keep-alive)."""

    def __init__(self) -> None:
        self.connections = 0
        self.dropped = asyncio.Event()  # set once /drop's connection is closed
        self.server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_context)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await read_request(reader)) is not None:
                line, _, body = request
                path = line.split(" ")[1]
                if path == "/slow":
                    await asyncio.sleep(2)
                answer = {"/small": b"hello", "/big": BIG, "/echo": body, "/drop": b"bye"}.get(path, b"?")
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(answer) + answer)
                await writer.drain()
                if path == "/drop":
                    await asyncio.sleep(0.05)
                    writer.close()
                    self.dropped.set()
                    return
        finally:
            writer.close()


def client(ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    transport = UpstreamTransport(
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=32), ssl_context=ssl_context
    )
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, read=1))


def test_requests_reuse_a_connection_and_large_bodies_arrive_whole(run):
    async def main() -> tuple[list[bytes], bytes, bytes, int]:
        upstream = Upstream()
        port = await upstream.start()
        async with client() as http:
            small = [(await http.get(f"http://127.0.0.1:{port}/small")).content for _ in range(3)]
            echoed = (await http.post(f"http://127.0.0.1:{port}/echo", content=BIG)).content
            big = (await http.get(f"http://127.0.0.1:{port}/big")).content
        await upstream.stop()
        return small, echoed, big, upstream.connections

    small, echoed, big, connections = run(main)
    assert small == [b"hello"] * 3
    assert echoed == BIG
    assert big == BIG
    assert connections == 1


def test_concurrent_requests_each_get_their_own_answer(run):
    async def main() -> tuple[list[bytes], int]:
        upstream = Upstream()
        port = await upstream.start()
        async with client() as http:

            async def one(i: int) -> bytes:
                return (await http.post(f"http://127.0.0.1:{port}/echo", content=b"%d" % i)).content

            answers = await asyncio.gather(*(one(i) for i in range(40)))
        await upstream.stop()
        return list(answers), upstream.connections

    answers, connections = run(main)
    assert answers == [b"%d" % i for i in range(40)]
    assert 1 <= connections <= 32


def test_a_connection_the_server_closed_while_idle_is_replaced(run):
    async def main() -> tuple[bytes, bytes, int]:
        upstream = Upstream()
        port = await upstream.start()
        async with client() as http:
            first = (await http.get(f"http://127.0.0.1:{port}/drop")).content
            await asyncio.wait_for(upstream.dropped.wait(), 5)  # the server closes the kept-alive connection
            second = (await http.get(f"http://127.0.0.1:{port}/small")).content
        await upstream.stop()
        return first, second, upstream.connections

    first, second, connections = run(main)
    assert (first, second) == (b"bye", b"hello")
    assert connections == 2


def test_timeouts_and_refused_connections_are_httpx_errors(run):
    async def main() -> tuple[type[Exception], type[Exception], bytes]:
        upstream = Upstream()
        port = await upstream.start()
        async with client() as http:
            with pytest.raises(httpx.ReadTimeout) as slow:
                await http.get(f"http://127.0.0.1:{port}/slow", timeout=httpx.Timeout(5, read=0.2))
            closed = socket_port()
            with pytest.raises(httpx.ConnectError) as refused:
                await http.get(f"http://127.0.0.1:{closed}/small")
            after = (await http.get(f"http://127.0.0.1:{port}/small")).content
        await upstream.stop()
        return type(slow.value), type(refused.value), after

    slow, refused, after = run(main)
    assert slow is httpx.ReadTimeout
    assert refused is httpx.ConnectError
    assert after == b"hello"


def socket_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upstream.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_upstreams_are_verified(run, certificate):
    cert_path, key_path = certificate

    async def main() -> tuple[bytes, bytes, type[Exception]]:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert_path, key_path)
        upstream = Upstream()
        port = await upstream.start(server_context)
        trusting = ssl.create_default_context(cafile=str(cert_path))
        async with client(trusting) as http:
            small = (await http.get(f"https://127.0.0.1:{port}/small")).content
            big = (await http.get(f"https://127.0.0.1:{port}/big")).content
        async with client() as http:  # the system's CAs: the self-signed certificate is refused
            with pytest.raises(httpx.ConnectError) as refused:
                await http.get(f"https://127.0.0.1:{port}/small")
        await upstream.stop()
        return small, big, type(refused.value)

    small, big, refused = run(main)
    assert small == b"hello"
    assert big == BIG
    assert refused is httpx.ConnectError


def guarded_client(*, allow_private: bool) -> httpx.AsyncClient:
    transport = UpstreamTransport(limits=httpx.Limits(max_connections=4), allow_private=allow_private)
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5))


def refusal(run: Callable[[Callable[[], Awaitable[Any]]], Any], url: str, *, allow_private: bool) -> BaseException:
    async def main() -> BaseException:
        async with guarded_client(allow_private=allow_private) as http:
            with pytest.raises(httpx.ConnectError) as refused:
                await http.get(url)
        return refused.value

    return run(main)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://0.0.0.0/"])
def test_link_local_metadata_and_unspecified_addresses_are_never_dialled(run, url):
    from runtime.fastpath.loop_backend import AddressRefused

    error = refusal(run, url, allow_private=True)
    assert isinstance(error.__cause__, AddressRefused)
    assert "UPSTREAM_ALLOW_PRIVATE_URLS" not in str(error)  # no setting opens these


def test_loopback_is_dialled_only_when_private_upstreams_are_allowed(run):
    from runtime.fastpath.loop_backend import AddressRefused

    async def allowed() -> bytes:
        upstream = Upstream()
        port = await upstream.start()
        async with guarded_client(allow_private=True) as http:
            body = (await http.get(f"http://127.0.0.1:{port}/small")).content
        await upstream.stop()
        return body

    assert run(allowed) == b"hello"
    error = refusal(run, "http://127.0.0.1:9/", allow_private=False)
    assert isinstance(error.__cause__, AddressRefused)
    assert "loopback" in str(error) and "UPSTREAM_ALLOW_PRIVATE_URLS" in str(error)


def test_a_host_name_is_judged_by_the_address_it_resolves_to(run):
    """The machine's own name resolves (through /etc/hosts) to a loopback or private address."""
    import socket as socket_module

    from runtime.fastpath.loop_backend import AddressRefused
    from servers import outbound

    name = socket_module.gethostname()
    addresses = outbound.resolve(name, 80)
    if outbound.resolved_refusal(addresses, allow_private=False, setting="X") is None:
        pytest.skip(f"{name} resolves to public addresses {addresses} on this machine")
    error = refusal(run, f"http://{name}:9/", allow_private=False)
    assert isinstance(error.__cause__, AddressRefused)
    assert f"{name} resolves to" in str(error)
