"""Faulty MCP POST bodies get JSON-RPC errors with `id: null` on every path (runtime.edge).

Over real HTTP against uvicorn: the stateless fast path, the SDK's stateless and stateful paths,
the 2026-07-28 path and the legacy SSE `…/messages` endpoint answer the same way.
"""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import pytest

from tests.runtime.test_mcp_auth import INIT

pytestmark = pytest.mark.django_db(transaction=True)

ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def ecs(make_server, alice, specs_dir):
    from servers.catalog.services import import_alibaba_file

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    return make_server(
        alice.account,
        "ecs-ops",
        [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions", "DescribeInstances"]}],
    )


def tool_name(server, api: str) -> str:
    from servers.snapshot import compiled_for_server

    return next(b.tool_name for b in compiled_for_server(server).bindings.values() if b.api_name == api)


def post(url: str, token: str, content: bytes | str, **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json", **headers}
    return httpx.post(url, content=content, headers=sent, timeout=30)


def assert_rpc_error(response: httpx.Response, status: int, code: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None and "result" not in body, body
    assert body["error"]["code"] == code, body
    for word in words:
        assert word in body["error"]["message"], body
    return body


def bad_bodies(call_tool: str) -> list[tuple[bytes | str, int, int, tuple[str, ...]]]:
    call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": call_tool, "arguments": {}}}
    return [
        ('{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}', 400, -32600, ('"id"',)),
        ('{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}', 400, -32600, ('"id"',)),
        ('{"jsonrpc":"2.0","id":null,"method":"tools/list"}', 400, -32600, ('"id"',)),
        ('{"jsonrpc":"2.0","id":true,"method":"ping"}', 400, -32600, ('"id"',)),
        (json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]), 400, -32600, ("batch",)),
        ('{"jsonrpc":"1.0","id":1,"method":"ping"}', 400, -32600, ("jsonrpc",)),
        ('{"jsonrpc":"2.0","id":1}', 400, -32600, ("response",)),
        ('"ping"', 400, -32600, ("object",)),
        ('{"jsonrpc":"2.0","id":1,"method":"ping"', 400, -32700, ("Parse error",)),
        (
            json.dumps(call).replace('"arguments": {}', '"arguments": {"RegionId": NaN}'),
            400,
            -32700,
            ("params.arguments.RegionId", "finite"),
        ),
        (
            json.dumps(call).replace('"arguments": {}', '"arguments": {"PageSize": -Infinity}'),
            400,
            -32700,
            ("params.arguments.PageSize",),
        ),
        (
            json.dumps(call).replace('"arguments": {}', '"arguments": {"PageSize": [1, 1e400]}'),
            400,
            -32700,
            ("params.arguments.PageSize[1]",),
        ),
    ]


@pytest.mark.parametrize("mode", ["fast", "sdk-stateless", "stateful", "2026-07-28"])
def test_faulty_bodies_get_json_rpc_errors_on_every_path(live_server_url, mcp, ecs, alice, pat, settings, mode):
    settings.MCP_STATELESS_HTTP = mode in ("fast", "sdk-stateless")
    settings.MCP_FAST_PATH = mode == "fast"
    url = live_server_url + mcp.path(ecs) + "/mcp"
    token = pat(alice)
    headers: dict[str, str] = {}
    if mode == "stateful":
        opened = post(url, token, json.dumps(INIT))
        assert opened.status_code == 200
        headers = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
    elif mode == "2026-07-28":
        headers = {"mcp-protocol-version": "2026-07-28"}
    for body, status, code, words in bad_bodies(tool_name(ecs, "DescribeRegions")):
        assert_rpc_error(post(url, token, body, **headers), status, code, *words)
    # A good request still works on the same path (the body the edge read is replayed to the SDK).
    if mode != "2026-07-28":
        good = post(url, token, '{"jsonrpc":"2.0","id":"x","method":"ping"}', **headers)
        assert good.status_code == 200 and '"id":"x"' in good.text.replace(" ", "")


@pytest.mark.parametrize("stateless", [True, False])
def test_wrong_content_type_is_415_and_oversized_bodies_413(live_server_url, mcp, ecs, alice, pat, settings, stateless):
    settings.MCP_STATELESS_HTTP = stateless
    settings.MCP_MAX_REQUEST_BYTES = 2000
    url = live_server_url + mcp.path(ecs) + "/mcp"
    token = pat(alice)
    ping = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
    for content_type in ("text/plain", "application/jsonx", "Application/JSON", ""):
        answer = post(url, token, ping, **{"Content-Type": content_type})
        assert_rpc_error(answer, 415, -32600, "Content-Type must be application/json")
    big = json.dumps({**INIT, "params": {**INIT["params"], "clientInfo": {"name": "x" * 3000, "version": "1"}}})
    assert_rpc_error(post(url, token, big), 413, -32600, "2000 bytes", "MCP_MAX_REQUEST_BYTES")

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b" " * 500

    streamed = httpx.post(
        url,
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json"},
    )
    assert_rpc_error(streamed, 413, -32600, "MCP_MAX_REQUEST_BYTES")
    # Just under the limit is read and answered.
    assert post(url, token, ping + " " * (2000 - len(ping))).status_code in (200, 400)


def open_sse(url: str, token: str) -> tuple[str, httpx.Client, queue.Queue]:
    """A legacy SSE stream read in a thread; returns its messages URL, its client (close it) and its events."""
    events: queue.Queue = queue.Queue()
    client = httpx.Client(timeout=30)

    def read() -> None:
        try:
            with client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
                kind = ""
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        events.put((kind, line[5:].strip()))
        except Exception:  # noqa: BLE001 - the test closed the stream under the reader
            pass

    threading.Thread(target=read, daemon=True).start()
    kind, data = events.get(timeout=20)
    assert kind == "endpoint"
    return data, client, events


def test_legacy_messages_endpoint_answers_json_rpc_errors(live_server_url, mcp, ecs, alice, pat, settings):
    settings.MCP_MAX_REQUEST_BYTES = 2000
    token = pat(alice)
    base = live_server_url + mcp.path(ecs)
    endpoint, stream, events = open_sse(base + "/sse", token)
    messages = live_server_url + endpoint
    try:
        for body, status, code, words in bad_bodies(tool_name(ecs, "DescribeRegions")):
            assert_rpc_error(post(messages, token, body), status, code, *words)
        assert_rpc_error(post(messages, token, "{}", **{"Content-Type": "text/plain"}), 415, -32600)
        assert_rpc_error(post(messages, token, " " * 2001), 413, -32600, "MCP_MAX_REQUEST_BYTES")
        # The transport's own refusals (unknown session) are JSON-RPC errors too, with their status.
        unknown = messages.split("session_id=")[0] + "session_id=" + "0" * 32
        assert_rpc_error(post(unknown, token, json.dumps(INIT)), 404, -32600, "Could not find session")
        assert_rpc_error(post(messages.split("?")[0], token, json.dumps(INIT)), 400, -32600, "session_id")
        # A good message is accepted and answered on the stream.
        accepted = post(messages, token, json.dumps(INIT))
        assert accepted.status_code == 202
        deadline = time.monotonic() + 20
        while True:
            kind, data = events.get(timeout=max(0.1, deadline - time.monotonic()))
            if kind == "message" and json.loads(data).get("id") == 1:
                assert json.loads(data)["result"]["serverInfo"]["name"] == "ecs-ops"
                break
    finally:
        stream.close()


def test_plain_refusals_of_the_transports_become_json_rpc_errors(live_server_url, mcp, ecs, alice, pat):
    base = live_server_url + mcp.path(ecs)
    token = pat(alice)
    answer = post(base + "/mcp", token, json.dumps(INIT), Host="evil.example")
    assert_rpc_error(answer, 421, -32600, "Invalid Host header")
    answer = post(base + "/mcp", token, json.dumps(INIT), Origin="http://evil.example")
    assert_rpc_error(answer, 403, -32600, "Invalid Origin header")
    answer = httpx.get(base + "/messages?session_id=" + "0" * 32, headers={"Authorization": f"Bearer {token}"})
    assert_rpc_error(answer, 405, -32600, "Method Not Allowed")
    modern = post(base + "/mcp", token, json.dumps(INIT), Accept="text/plain", **{"mcp-protocol-version": "2026-07-28"})
    assert_rpc_error(modern, 406, -32600, "Not Acceptable")
