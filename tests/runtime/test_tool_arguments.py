"""Awkward tool arguments end to end: official MCP client → runtime → a real upstream on loopback.

A NUL character in a string argument reaches the upstream and the audit trail (written as
`\\u0000`: PostgreSQL text and jsonb cannot hold NUL); a header argument with leading or trailing
spaces is an `InvalidParameter` before anything is sent.
"""

from __future__ import annotations

import json
import time

import anyio
import pytest

pytestmark = pytest.mark.django_db(transaction=True)

DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Notes", "version": "1.0.0"},
    "servers": [{"url": "https://notes.invalid"}],
    "paths": {
        "/notes": {
            "post": {
                "operationId": "createNote",
                "summary": "Create a note",
                "parameters": [{"name": "X-Source", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}}}
                    },
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


@pytest.fixture
def notes(make_server, alice, upstream):
    from oauth.models import Connection
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create
    from servers.snapshot import compiled_for_server

    imported = import_openapi(DOC, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    server = make_server(
        alice.account, "notes", [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}]
    )
    Connection.objects.create(account=alice.account, product=imported.product, base_url=upstream.url, auth_type="none")
    (binding,) = compiled_for_server(server).bindings.values()
    return server, binding.tool_name


def call(url: str, token: str, mcp, tool: str, arguments: dict):
    async def main():
        async with mcp.client(url, token) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(main)


def wait_for_events(count: int) -> list:
    from runtime.models import AuditEvent

    deadline = time.monotonic() + 10
    while AuditEvent.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(AuditEvent.objects.order_by("pk"))


def test_a_nul_character_in_an_argument_is_sent_and_audited(live_server_url, mcp, notes, alice, pat, upstream):
    server, tool = notes
    url = live_server_url + mcp.path(server) + "/mcp"
    result = call(url, pat(alice), mcp, tool, {"body": {"text": "a\x00b"}, "X-Source": "cli"})
    assert result.is_error is False, result.content[0].text
    assert json.loads(upstream.last()["body"]) == {"text": "a\x00b"}
    (event,) = wait_for_events(1)
    assert event.outcome == "success"
    assert event.arguments["body"] == {"text": "a\\u0000b"}


@pytest.mark.parametrize("value", [" cli", "cli ", "\tcli"])
def test_a_header_argument_with_outer_spaces_is_an_invalid_parameter(
    live_server_url, mcp, notes, alice, pat, upstream, value
):
    server, tool = notes
    url = live_server_url + mcp.path(server) + "/mcp"
    result = call(url, pat(alice), mcp, tool, {"body": {"text": "hi"}, "X-Source": value})
    assert result.is_error is True
    error = json.loads(result.content[0].text)
    assert error["code"] == "InvalidParameter"
    assert "X-Source" in error["message"]
    assert upstream.requests == []
    (event,) = wait_for_events(1)
    assert event.error_code == "InvalidParameter"
