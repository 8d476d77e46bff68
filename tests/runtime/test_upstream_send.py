"""`upstream.send`: tool calls go straight to the client's httpcore pool, and must put on the wire
what the same request sent through `httpx.AsyncClient` puts there, and read the answer as httpx
reads it (decompressed, repeated headers joined, cut at the size cap, httpx's exceptions)."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import httpx
import pytest
import uvloop

from runtime import upstream
from runtime.signing import HttpRequest
from tests.runtime.raw_http import read_request

SMALL = b'{"ok": true}'
PACKED = b'{"packed": "' + b"x" * 5000 + b'"}'


class Recorder:
    """An HTTP/1.1 server keeping each request's line, headers and body."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[tuple[str, str]], bytes]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await read_request(reader)) is not None:
                self.seen.append(request)
                line = request[0]
                path = line.split(" ")[1]
                if path.startswith("/slow"):
                    await asyncio.sleep(2)
                if path.startswith("/gzip"):
                    packed = gzip.compress(PACKED)
                    extra, answer = b"content-encoding: gzip\r\n", packed
                else:
                    extra, answer = b"x-dup: one\r\nx-dup: two\r\nx-request-id: R-1\r\n", SMALL
                writer.write(b"HTTP/1.1 200 OK\r\n" + extra + b"content-length: %d\r\n\r\n" % len(answer) + answer)
                await writer.drain()
        finally:
            writer.close()


def _clients() -> tuple[upstream.UpstreamClient, httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    options: dict[str, Any] = {"follow_redirects": False, "headers": {"user-agent": "openapi-mcp-console/1.0"}}
    direct = upstream.UpstreamClient(transport=upstream.UpstreamTransport(limits=limits), trust_env=False, **options)
    plain = httpx.AsyncClient(transport=upstream.UpstreamTransport(limits=limits), **options)
    return direct, plain


async def _send(client: httpx.AsyncClient, request: HttpRequest, max_bytes: int = 1 << 20) -> upstream.Sent:
    return await upstream.send(client, request, connect_timeout=2, read_timeout=0.5, max_bytes=max_bytes)


REQUESTS = [
    HttpRequest("GET", "http://127.0.0.1:{port}/items/a%20b", [("q", "x y/ü"), ("Tag.1", "*")], {"X-Trace": "t"}),
    HttpRequest("POST", "http://127.0.0.1:{port}/v1/things", [], {"Content-Type": "application/json"}, b'{"a":1}'),
    HttpRequest("POST", "http://127.0.0.1:{port}/", [("Action", "Describe")], {"x-acs-action": "Describe"}),
    HttpRequest("PUT", "http://127.0.0.1:{port}/p", [], {"User-Agent": "custom", "Accept": "application/xml"}),
    HttpRequest("DELETE", "http://127.0.0.1:{port}/p/1", [("force", "true")], {}),
]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_direct_path_sends_what_httpx_sends_and_reads_the_same_answer(loop: str) -> None:
    async def main() -> tuple[list[Any], list[Any], list[upstream.Sent], list[upstream.Sent]]:
        recorder = Recorder()
        port = await recorder.start()
        direct, plain = _clients()
        assert direct.pool is not None
        answers: dict[str, list[upstream.Sent]] = {"direct": [], "plain": []}
        for name, client in (("direct", direct), ("plain", plain)):
            for template in REQUESTS:
                request = HttpRequest(
                    template.method,
                    template.url.format(port=port),
                    list(template.query),
                    dict(template.headers),
                    template.body,
                )
                answers[name].append(await _send(client, request))
        await direct.aclose()
        await plain.aclose()
        half = len(REQUESTS)
        return recorder.seen[:half], recorder.seen[half:], answers["direct"], answers["plain"]

    via_pool, via_client, direct, plain = uvloop.run(main()) if loop == "uvloop" else asyncio.run(main())
    for (line, headers, body), (line2, headers2, body2) in zip(via_pool, via_client, strict=True):
        assert line == line2
        assert sorted(headers) == sorted(headers2)
        assert body == body2
    assert via_pool[0][0] == "GET /items/a%20b?q=x%20y%2F%C3%BC&Tag.1=%2A HTTP/1.1"
    assert ("content-length", "0") in via_pool[2][1]  # a bodiless POST says so, as httpx does
    assert ("user-agent", "custom") in via_pool[3][1]  # the request's own header wins
    for mine, theirs in zip(direct, plain, strict=True):
        assert mine.response == theirs.response
    assert direct[0].response.headers["x-dup"] == "one, two"
    assert direct[0].response.body == SMALL


def test_compressed_answers_are_decoded_and_long_ones_cut() -> None:
    async def main() -> tuple[upstream.Sent, upstream.Sent, list[Any]]:
        recorder = Recorder()
        port = await recorder.start()
        direct, _ = _clients()
        whole = await _send(direct, HttpRequest("GET", f"http://127.0.0.1:{port}/gzip"))
        cut = await _send(direct, HttpRequest("GET", f"http://127.0.0.1:{port}/gzip"), max_bytes=100)
        await direct.aclose()
        return whole, cut, recorder.seen

    whole, cut, seen = uvloop.run(main())
    assert "gzip" in dict(seen[0][1])["accept-encoding"]
    assert whole.response.body == PACKED and not whole.response.truncated
    assert cut.response.body == PACKED[:100] and cut.response.truncated


def test_errors_are_httpx_exceptions() -> None:
    async def main() -> tuple[type[BaseException], type[BaseException]]:
        recorder = Recorder()
        port = await recorder.start()
        direct, _ = _clients()
        with pytest.raises(httpx.ReadTimeout) as slow:
            await _send(direct, HttpRequest("GET", f"http://127.0.0.1:{port}/slow"))
        recorder.server.close()  # type: ignore[union-attr]
        await recorder.server.wait_closed()  # type: ignore[union-attr]
        with pytest.raises(httpx.ConnectError) as refused:
            await _send(direct, HttpRequest("GET", f"http://127.0.0.1:{port}/gone"))
        await direct.aclose()
        return slow.type, refused.type

    assert uvloop.run(main()) == (httpx.ReadTimeout, httpx.ConnectError)
