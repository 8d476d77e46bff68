"""A connection edited in the console or through the management API is used by the very next tool
calls: the runtime drops its cached connections on the `connection` event (runtime/signals.py),
not at the end of MCP_CONNECTION_TTL_SECONDS, which is set to an hour here to prove it."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest
from django.test import Client

from oauth.services import connection_set

pytestmark = pytest.mark.django_db(transaction=True)

DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Gadgets", "version": "1.0.0"},
    "servers": [{"url": "https://gadgets.invalid"}],
    "paths": {"/gadgets": {"get": {"operationId": "listGadgets", "summary": "List gadgets", "responses": {"200": {}}}}},
}


@pytest.fixture
def gadgets(make_server: Any, alice: Any) -> tuple[Any, str]:
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create

    imported = import_openapi(DOC, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    server = make_server(
        alice.account, "gadgets", [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}]
    )
    return server, imported.product


def _call(url: str, token: str, mcp: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with mcp.client(url, token) as client:
            tools = await client.list_tools()
            result = await client.call_tool(tools.tools[0].name, {})
            assert result.is_error is False, result.content[0].text
            return dict(json.loads(result.content[0].text))

    return anyio.run(main)


def _path_soon(url: str, token: str, mcp: Any, expected: str) -> str:
    """The upstream path of a tool call, calling again until it is `expected` or 10 s passed.

    Without Redis the event is delivered before the edit's answer; through Redis it may arrive a
    moment later. Either way it is far below the hour the cache would otherwise keep the old one.
    """
    deadline = time.monotonic() + 10
    while True:
        path = str(_call(url, token, mcp)["path"])
        if path == expected or time.monotonic() > deadline:
            return path


def test_an_edited_connection_is_used_right_away(
    settings: Any, live_server_url: str, mcp: Any, upstream: Any, gadgets: Any, alice: Any, pat: Any, signed_client: Any
) -> None:
    settings.MCP_CONNECTION_TTL_SECONDS = 3600
    server, product = gadgets
    connection, _ = connection_set(
        account=alice.account, product=product, auth_type="none", base_url=upstream.url + "/v1"
    )
    url = live_server_url + mcp.path(server) + "/mcp"
    token = pat(alice)
    assert _call(url, token, mcp)["path"] == "/v1/gadgets"  # now cached

    console = Client()
    console.force_login(alice)
    edited = console.post(
        f"/connections/{connection.pk}/edit/",
        {"auth_type": "bearer", "token": "console-token", "base_url": upstream.url + "/v2"},
    )
    assert edited.status_code == 302, edited.content.decode()[:2000]
    assert _path_soon(url, token, mcp, "/v2/gadgets") == "/v2/gadgets"
    assert upstream.last()["headers"]["authorization"] == "Bearer console-token"

    replaced = signed_client(alice).request(
        "PUT", "/connection", json_body={"product": product, "authType": "bearer", "baseUrl": upstream.url + "/v3"}
    )
    assert replaced.status_code == 200, replaced.text
    assert _path_soon(url, token, mcp, "/v3/gadgets") == "/v3/gadgets"
    assert upstream.last()["headers"]["authorization"] == "Bearer console-token"  # the secret was kept
