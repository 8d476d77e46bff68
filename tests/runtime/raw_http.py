"""Reading one HTTP/1.1 request in the tests' small loopback servers."""

from __future__ import annotations

import asyncio


async def read_request(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The request line, headers (names lowercased, in order) and body; None once the client left."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    line, *rest = head.decode("latin-1").split("\r\n")
    headers = [(k.lower(), v.strip()) for k, _, v in (h.partition(":") for h in rest if h)]
    body = await reader.readexactly(int(dict(headers).get("content-length", "0")))
    return line, headers, body
