"""Multi-account tool calls (SPEC §6.4): `x_assume_account_id` on a server with `enableAssumeRole`.

Real uvicorn, the official MCP client and an upstream HTTP API on loopback. The server belongs to
alice's account A; charlie's account B has the role `ops`. Each account has its own connection to
the Widgets API (bearer tokens `token-a` and `token-b`), so the upstream shows whose was used.
"""

from __future__ import annotations

import json
import time

import anyio
import pytest

from oauth.models import Connection, Policy, Role
from oauth.services import policy_attach, policy_create, policy_update, role_create, role_update
from runtime.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

WIDGETS = {
    "openapi": "3.0.3",
    "info": {"title": "Widgets", "version": "1.0.0"},
    "servers": [{"url": "https://widgets.invalid"}],
    "paths": {
        "/widgets": {"get": {"operationId": "ListWidgets", "responses": {"200": {"description": "ok"}}}},
        "/widgets/{id}": {
            "delete": {
                "operationId": "DeleteWidget",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}
ALLOW_WIDGETS = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "widgets:*", "Resource": "*"}]}
LIST_ONLY = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "widgets:List*", "Resource": "*"}]}


def text_of(result):
    return json.loads(result.content[0].text)


def bearer_connection(account, token, upstream):
    connection = Connection(account=account, product="Widgets", base_url=upstream.url, auth_type=Connection.AUTH_BEARER)
    connection.set_secrets({"token": token})
    connection.save()


@pytest.fixture
def widgets(make_server, alice, charlie, upstream):
    """The product, both accounts' connections, B's role `ops` trusting A, and A's assume-role server."""
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create

    imported = import_openapi(WIDGETS, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    bearer_connection(alice.account, "token-a", upstream)
    bearer_connection(charlie.account, "token-b", upstream)
    role_policy = policy_create(account=charlie.account, name="WidgetsAll", document=ALLOW_WIDGETS)
    role_create(account=charlie.account, name="ops", trusted_account_ids=[alice.account_id], policies=[role_policy])
    apis = [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}]
    server = make_server(alice.account, "widgets", apis, enable_assume_role=True, assume_role_name="ops")
    return {"server": server, "apis": apis, "version": imported.version}


def tool(widgets, api):
    return f"Widgets-{widgets['version']}-{api}"


def call(live_server_url, mcp, server, token, name, arguments):
    async def main():
        async with mcp.client(live_server_url + mcp.path(server) + "/mcp", token) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert name in tools, sorted(tools)
            return await client.call_tool(name, arguments)

    return anyio.run(main)


def events_for(server, count):
    deadline = time.monotonic() + 10
    while AuditEvent.objects.filter(server_id=server.id).count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(AuditEvent.objects.filter(server_id=server.id).order_by("pk"))


def test_a_call_runs_in_the_trusting_account_with_its_connection(
    live_server_url, mcp, upstream, widgets, alice, charlie, pat
):
    server = widgets["server"]
    token = pat(alice)
    other = call(
        live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), {"x_assume_account_id": charlie.account_id}
    )
    assert other.is_error is False, other.content[0].text
    assert text_of(other)["headers"]["authorization"] == "Bearer token-b"  # account B's connection
    own = call(live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), {})
    assert text_of(own)["headers"]["authorization"] == "Bearer token-a"
    same = call(
        live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), {"x_assume_account_id": alice.account_id}
    )
    assert text_of(same)["headers"]["authorization"] == "Bearer token-a"  # its own account: no role assumed
    assumed, plain, _ = events_for(server, 3)
    assert (assumed.outcome, assumed.account_id, assumed.target_account_id) == (
        "success",
        alice.account_id,
        charlie.account_id,
    )
    assert (plain.account_id, plain.target_account_id) == (alice.account_id, alice.account_id)
    # Each account's audit export lists the call: A's as the caller's account, B's as the target.
    import io
    import json

    from django.core.management import call_command

    for account_id in (alice.account_id, charlie.account_id):
        out = io.StringIO()
        call_command("export_audit", "--account", account_id, "--server", server.id, stdout=out)
        exported = [json.loads(line) for line in out.getvalue().splitlines()]
        assert assumed.event_id in {e["eventId"] for e in exported}, exported


def test_a_role_that_does_not_trust_the_servers_account_is_refused(
    live_server_url, mcp, upstream, widgets, alice, charlie, pat
):
    role_update(role=Role.objects.get(name="ops"), trusted_account_ids=["1234567890123456"])
    result = call(
        live_server_url,
        mcp,
        widgets["server"],
        pat(alice),
        tool(widgets, "ListWidgets"),
        {"x_assume_account_id": charlie.account_id},
    )
    assert result.is_error and text_of(result)["code"] == "Forbidden.AssumeRole"
    assert (
        f"Role ops of account {charlie.account_id} does not trust account {alice.account_id}"
        in (text_of(result)["message"])
    )
    assert upstream.requests == []
    (event,) = events_for(widgets["server"], 1)
    assert (event.outcome, event.error_code, event.target_account_id) == (
        "denied",
        "Forbidden.AssumeRole",
        charlie.account_id,
    )


def test_a_caller_without_sts_assume_role_is_refused_naming_the_action(
    live_server_url, mcp, upstream, widgets, alice, bob, charlie, pat
):
    policy_attach(policy=policy_create(account=alice.account, name="Widgets", document=ALLOW_WIDGETS), user=bob)
    token = pat(bob)
    own = call(live_server_url, mcp, widgets["server"], token, tool(widgets, "ListWidgets"), {})
    assert own.is_error is False, own.content[0].text  # bob may call the tool in his own account
    refused = call(
        live_server_url,
        mcp,
        widgets["server"],
        token,
        tool(widgets, "ListWidgets"),
        {"x_assume_account_id": charlie.account_id},
    )
    assert refused.is_error and text_of(refused)["code"] == "Forbidden.RAM"
    message = text_of(refused)["message"]
    assert f"action sts:AssumeRole on resource acs:ram::{charlie.account_id}:role/ops" in message
    assert len(upstream.requests) == 1


def test_the_extra_policy_limits_what_the_role_may_do(
    live_server_url, mcp, upstream, widgets, make_server, alice, charlie, pat
):
    server = make_server(
        alice.account,
        "widgets-list-only",
        widgets["apis"],
        enable_assume_role=True,
        assume_role_name="ops",
        assume_role_extra_policy=json.dumps(LIST_ONLY),
    )
    token = pat(alice)
    assume = {"x_assume_account_id": charlie.account_id}
    listed = call(live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), assume)
    assert listed.is_error is False, listed.content[0].text
    deleted = call(live_server_url, mcp, server, token, tool(widgets, "DeleteWidget"), {**assume, "id": "w1"})
    assert deleted.is_error and text_of(deleted)["code"] == "Forbidden.RAM"
    assert text_of(deleted)["message"] == (
        "User not authorized to operate on the specified resource: action widgets:DeleteWidget on resource "
        f"acs:widgets:*:{charlie.account_id}:* is not allowed by the server's assumeRoleExtraPolicy."
    )
    assert [r["method"] for r in upstream.requests] == ["GET"]
    # Without the extra policy the role's own policies allow the deletion.
    allowed = call(
        live_server_url, mcp, widgets["server"], token, tool(widgets, "DeleteWidget"), {**assume, "id": "w1"}
    )
    assert allowed.is_error is False, allowed.content[0].text
    assert upstream.last()["method"] == "DELETE" and upstream.last()["headers"]["authorization"] == "Bearer token-b"


def test_role_changes_apply_to_the_next_call(live_server_url, mcp, upstream, widgets, alice, charlie, pat):
    """The runtime caches roles; a change (the role's policy edited, then detached) drops them at once."""
    server, token = widgets["server"], pat(alice)
    assume = {"x_assume_account_id": charlie.account_id}
    first = call(live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), assume)
    assert first.is_error is False
    deny_all = {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    policy_update(policy=Policy.objects.get(name="WidgetsAll"), document=deny_all)
    second = call(live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), assume)
    assert second.is_error and "explicitly denied by policy WidgetsAll of role ops" in text_of(second)["message"]
    Role.objects.get(name="ops").policies.clear()
    third = call(live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), assume)
    assert third.is_error and text_of(third)["message"].endswith("is not allowed by any policy of role ops.")
    unknown = call(live_server_url, mcp, server, token, tool(widgets, "ListWidgets"), {"x_assume_account_id": "42"})
    assert text_of(unknown)["code"] == "EntityNotExist.Role"
    assert len(upstream.requests) == 1
