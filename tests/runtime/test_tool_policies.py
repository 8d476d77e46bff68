"""Policies on tool calls end to end (SPEC §6.2): the official MCP client against a real upstream.

bob's policy allows the Widgets API but denies deletions: listing succeeds, deleting fails with a
message naming the action and the Deny statement that decided it (the Deny wins over the Allow).
"""

from __future__ import annotations

import json

import anyio
import pytest

from oauth.models import Connection
from oauth.services import policy_attach, policy_create
from tests.runtime.test_assume_role import WIDGETS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(make_server, alice, upstream):
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create

    imported = import_openapi(WIDGETS, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    Connection.objects.create(account=alice.account, product="Widgets", base_url=upstream.url)
    apis = [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}]
    return make_server(alice.account, "widgets", apis)


def calls(mcp, url, token, *requests):
    async def main():
        async with mcp.client(url, token) as client:
            return [await client.call_tool(name, arguments) for name, arguments in requests]

    return anyio.run(main)


def test_a_limited_policy_allows_one_tool_and_a_deny_refuses_another(
    live_server_url, mcp, upstream, server, alice, bob, pat
):
    bob.policies.clear()
    policy_attach(
        user=bob,
        policy=policy_create(
            account=alice.account,
            name="WidgetsNoDelete",
            document={
                "Version": "1",
                "Statement": [
                    {"Effect": "Allow", "Action": "widgets:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "widgets:Delete*", "Resource": f"acs:widgets:*:{alice.account_id}:*"},
                ],
            },
        ),
    )
    listed, deleted = calls(
        mcp,
        live_server_url + mcp.path(server) + "/mcp",
        pat(bob),
        ("Widgets-1.0.0-ListWidgets", {}),
        ("Widgets-1.0.0-DeleteWidget", {"id": "w1"}),
    )
    assert listed.is_error is False, listed.content[0].text
    assert deleted.is_error
    error = json.loads(deleted.content[0].text)
    assert (error["code"], error["action"]) == ("Forbidden.RAM", "widgets:DeleteWidget")
    assert error["message"] == (
        "User not authorized to operate on the specified resource: action widgets:DeleteWidget on resource "
        f"acs:widgets:*:{alice.account_id}:* is explicitly denied by policy WidgetsNoDelete (Statement[1]: "
        f'{{"Effect":"Deny","Action":"widgets:Delete*","Resource":"acs:widgets:*:{alice.account_id}:*"}}).'
    )
    assert [r["method"] for r in upstream.requests] == ["GET"]


def test_without_an_allowing_statement_the_call_is_refused(live_server_url, mcp, upstream, server, bob, pat):
    (refused,) = calls(mcp, live_server_url + mcp.path(server) + "/mcp", pat(bob), ("Widgets-1.0.0-ListWidgets", {}))
    message = json.loads(refused.content[0].text)["message"]
    assert refused.is_error and "action widgets:ListWidgets" in message
    assert message.endswith("is not allowed by any of your policies.")
    assert upstream.requests == []
