"""Stateless tools/list and tools/call answered by runtime.fastpath: the same answers as the SDK gives.

Every request is sent twice over real HTTP, with MCP_FAST_PATH on and off, for every handshake-era
protocol version (and without the header); the JSON-RPC messages must be equal. Upstream request
ids (random per call in the test upstream) are the only thing left out of the comparison.
"""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.django_db(transaction=True)

DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Gadgets", "version": "2.0.0"},
    "servers": [{"url": "https://gadgets.invalid"}],
    "paths": {
        "/gadgets/{gadgetId}": {
            "get": {
                "operationId": "getGadget",
                "summary": "Read a gadget",
                "parameters": [
                    {"name": "gadgetId", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"RequestId": {"type": "string"}}}
                            }
                        },
                    }
                },
            }
        },
        "/gadgets": {
            "get": {
                "operationId": "listGadgets",
                "summary": "List gadgets",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}
VERSIONS = [None, "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


@pytest.fixture
def gadgets(make_server, alice, upstream):
    from oauth.models import Connection
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create
    from servers.snapshot import compiled_for_server

    imported = import_openapi(DOC, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    pair = {"product": imported.product, "apiVersion": imported.version}
    server = make_server(
        alice.account,
        "gadgets",
        [{**pair, "selectors": ["*"]}],
        additional_api_descriptions=[{**pair, "apiName": "getGadget", "enableOutputSchema": True}],
    )
    Connection.objects.create(account=alice.account, product=imported.product, base_url=upstream.url, auth_type="none")
    names = {b.api_name: b.tool_name for b in compiled_for_server(server).bindings.values()}
    return server, names


def message_of(response: httpx.Response) -> dict:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def without_request_ids(message: dict) -> dict:
    result = message.get("result") or {}
    for item in result.get("content") or []:
        if item.get("type") == "text" and item["text"].startswith("{"):
            body = json.loads(item["text"])
            body.pop("RequestId", None)
            item["text"] = body
    if isinstance(result.get("structuredContent"), dict):
        result["structuredContent"].pop("RequestId", None)
    return message


def post(url: str, token: str, body: dict, version: str | None, **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream", **headers}
    if version:
        sent["MCP-Protocol-Version"] = version
    return httpx.post(url, json=body, headers=sent, timeout=30)


def test_fast_path_answers_like_the_sdk(live_server_url, mcp, gadgets, alice, pat, settings):
    settings.MCP_STATELESS_HTTP = True
    server, names = gadgets
    url = live_server_url + mcp.path(server) + "/mcp"
    token = pat(alice)
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": "a-1", "method": "tools/list", "params": {}},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": names["getGadget"], "arguments": {"gadgetId": "g 1", "limit": 3}},
        },
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": names["listGadgets"]}},
        {  # invalid arguments: an isError result
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": names["getGadget"], "arguments": {"limit": "many"}},
        },
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "NoSuchTool", "arguments": {}}},
    ]
    for version in VERSIONS:
        for request in requests:
            settings.MCP_FAST_PATH = True
            fast = post(url, token, request, version)
            settings.MCP_FAST_PATH = False
            sdk = post(url, token, request, version)
            assert fast.status_code == sdk.status_code == 200, (fast.text, sdk.text)
            assert fast.headers["content-type"] == "application/json"
            assert sdk.headers["content-type"].startswith("text/event-stream")
            assert without_request_ids(message_of(fast)) == without_request_ids(message_of(sdk)), (version, request)
    # The output schema travels from 2025-06-18 on, and with it structuredContent.
    settings.MCP_FAST_PATH = True
    call = requests[2]
    assert "structuredContent" in post(url, token, call, "2025-06-18").json()["result"]
    assert post(url, token, call, "2025-06-18").json()["result"]["isError"] is False


def test_what_the_fast_path_does_not_take_is_answered_by_the_sdk(live_server_url, mcp, gadgets, alice, pat, settings):
    settings.MCP_STATELESS_HTTP = True
    settings.MCP_FAST_PATH = True
    server, names = gadgets
    url = live_server_url + mcp.path(server) + "/mcp"
    token = pat(alice)
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": names["listGadgets"]}}

    with_meta = {**call, "params": {**call["params"], "_meta": {"progressToken": "p"}}}
    answer = post(url, token, with_meta, "2025-06-18")
    assert answer.headers["content-type"].startswith("text/event-stream")  # the SDK served it
    assert message_of(answer)["result"]["isError"] is False

    ping = post(url, token, {"jsonrpc": "2.0", "id": 8, "method": "ping"}, "2025-06-18")
    assert message_of(ping) == {"jsonrpc": "2.0", "id": 8, "result": {}}

    json_only = post(url, token, call, "2025-06-18", Accept="application/json")
    assert json_only.status_code == 406  # the SDK's answer in its SSE mode

    wrong_type = httpx.post(
        url,
        content=json.dumps(call),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
    )
    assert wrong_type.status_code == 415  # runtime.edge, before either path
    assert wrong_type.json()["error"]["code"] == -32600

    unauthenticated = httpx.post(url, json=call, headers={"Accept": "application/json, text/event-stream"})
    assert unauthenticated.status_code == 401
