"""The audit trail of tool calls (SPEC §6.6): one event per call whatever its outcome, secrets never
stored or logged, the events readable through GetRequestLog, GetOwnRequestLog and export_audit."""

from __future__ import annotations

import io
import json
import logging
import time

import anyio
import pytest
from django.core.management import call_command

from oauth.models import Connection
from runtime.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "pin-7f3a9c1e-never-stored"
DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Vault", "version": "1.0.0"},
    "servers": [{"url": "https://vault.invalid"}],
    "paths": {
        "/unlock": {
            "post": {
                "operationId": "unlock",
                "summary": "Unlock a door",
                "parameters": [
                    {"name": "door", "in": "query", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "pin",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "password"},
                    },
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"password": {"type": "string"}}}
                        }
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


@pytest.fixture
def vault(make_server, alice, upstream):
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create

    imported = import_openapi(DOC, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    Connection.objects.create(account=alice.account, product=imported.product, base_url=upstream.url)
    return make_server(
        alice.account, "vault", [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}]
    )


def wait_for_events(count: int, **filters) -> list[AuditEvent]:
    deadline = time.monotonic() + 10
    while True:
        rows = list(AuditEvent.objects.filter(**filters).order_by("pk"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def call(url: str, token: str, calls: list[tuple[str, dict]]) -> list:
    from mcp.shared.exceptions import MCPError

    from tests.runtime.conftest import mcp_client

    async def main():
        async with mcp_client(url, token) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            (name,) = tools
            results = []
            for tool, args in calls:
                try:
                    results.append(await client.call_tool(name if tool == "unlock" else tool, args))
                except MCPError as exc:  # a protocol error (an unknown tool)
                    results.append(exc)
            return results

    return anyio.run(main)


def test_every_tool_call_leaves_one_event_with_its_outcome_and_no_secret(
    live_server_url, mcp, vault, alice, bob, pat, caplog
):
    # Everything this process logs at the default LOG_LEVEL (INFO), the live server's loggers included.
    # (At DEBUG, libraries such as the MCP SDK and sse-starlette log whole messages: docs/audit.md.)
    caplog.set_level(logging.INFO)
    url = live_server_url + mcp.path(vault) + "/mcp"
    ok, failed, invalid, unknown = call(
        url,
        pat(alice),
        [
            ("unlock", {"door": "front", "pin": SECRET, "body": {"password": SECRET}}),
            ("unlock", {"door": "error:409:Door.Locked", "pin": SECRET}),
            ("unlock", {"door": "front"}),  # pin missing
            ("Nope-1-Missing", {"pin": SECRET}),
        ],
    )
    (denied,) = call(url, pat(bob), [("unlock", {"door": "front", "pin": SECRET})])
    assert not ok.is_error and failed.is_error and invalid.is_error and denied.is_error
    assert "Unknown tool: Nope-1-Missing" in str(unknown)

    events = wait_for_events(5, kind="tool_call", server_id=vault.id)
    assert [(e.username, e.outcome, e.error_code) for e in events] == [
        ("alice", "success", ""),
        ("alice", "error", "Door.Locked"),
        ("alice", "invalid", "InvalidParameter"),
        ("alice", "invalid", "NotFound.Tool"),
        ("bob", "denied", "Forbidden.RAM"),
    ]
    assert events[0].arguments == {"door": "front", "pin": "***", "body": {"password": "***"}}
    assert events[0].upstream["status"] == 200 and "pin=***" in events[0].upstream["url"]
    assert events[0].upstream["api"] == "unlock" and events[0].upstream_request_id
    assert events[4].action.endswith(":unlock")
    stored = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert SECRET not in stored
    assert SECRET not in caplog.text
    assert caplog.records  # the check above looked at something


def test_request_logs_show_the_call_behind_a_request_id(live_server_url, mcp, vault, alice, bob, charlie, pat):
    from oauth.services import user_create
    from tests.conftest import SignedClient

    (result,) = call(live_server_url + mcp.path(vault) + "/mcp", pat(alice), [("unlock", {"door": "a", "pin": SECRET})])
    upstream_id = json.loads(result.content[0].text)["RequestId"]
    (event,) = wait_for_events(1, kind="tool_call", server_id=vault.id)

    def client_for(user):
        from oauth.services import access_key_create

        key = access_key_create(user=user)
        return SignedClient(live_server_url, key.access_key_id, key.access_key_secret)

    alice_api = client_for(alice)
    for rid in (event.request_id, upstream_id, upstream_id.lower()):
        answer = alice_api.request("GET", "/getRequestLog", params={"logRequestId": rid}, action="GetRequestLog")
        assert answer.status_code == 200, answer.text
        info = answer.json()["logInfo"]
        basic = info["basicInfo"]
        assert basic["logRequestId"] == event.request_id and basic["api"] == "unlock"
        assert basic["httpStatusCode"] == "200" and basic["httpMethod"] == "POST"
        assert basic["endpoint"].startswith("127.0.0.1:") and basic["product"] == vault.apis[0]["product"]
        assert (
            info["callerInfo"]["callerIp"] == "127.0.0.1" and info["callerInfo"]["masterAccountId"] == alice.account_id
        )
        assert {"name": "pin", "value": "***", "required": False, "type": "string"} in info["parameters"]
    own = alice_api.request("GET", "/getOwnRequestLog", params={"logRequestId": event.request_id})
    assert own.status_code == 200 and own.json()["logInfo"]["basicInfo"]["api"] == "unlock"

    # bob (same account, Get* allowed) may read any log of the account, but not as his own
    bob_api = client_for(bob)
    assert bob_api.request("GET", "/getRequestLog", params={"logRequestId": event.request_id}).status_code == 200
    not_own = bob_api.request("GET", "/getOwnRequestLog", params={"logRequestId": event.request_id})
    assert not_own.status_code == 404 and not_own.json()["code"] == "NotFound.RequestLog"
    # a user without policies is refused GetRequestLog but reads its own logs
    dave_api = client_for(user_create(account=alice.account, username="dave", password="dave-password"))
    refused = dave_api.request("GET", "/getRequestLog", params={"logRequestId": event.request_id})
    assert refused.status_code == 403 and refused.json()["code"] == "Forbidden.RAM"
    refused_id = refused.json()["requestId"]
    dave_own = dave_api.request("GET", "/getOwnRequestLog", params={"logRequestId": refused_id})
    assert dave_own.status_code == 200
    denied_info = dave_own.json()["logInfo"]["basicInfo"]
    assert denied_info["errorCode"] == "Forbidden.RAM"
    assert denied_info["accessDeniedDetail"]["authAction"] == "openapiexplorer:GetRequestLog"
    # another account sees nothing; a missing or malformed id is a 400
    stranger = client_for(charlie).request("GET", "/getRequestLog", params={"logRequestId": event.request_id})
    assert stranger.status_code == 404
    assert alice_api.request("GET", "/getRequestLog").json()["code"] == "Missing.LogRequestId"
    bad = alice_api.request("GET", "/getRequestLog", params={"logRequestId": "x" * 201})
    assert (bad.status_code, bad.json()["code"]) == (400, "InvalidParam.LogRequestId")

    # every one of those management calls left exactly one event
    management = AuditEvent.objects.filter(kind="management")
    assert management.count() == 11
    assert management.filter(outcome="denied").count() == 1
    assert management.filter(error_code="NotFound.RequestLog").count() == 2

    out = io.StringIO()
    call_command("export_audit", "--account", alice.account_id, "--kind", "tool_call", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["requestId"], r["userName"], r["outcome"]) for r in lines] == [(event.request_id, "alice", "success")]
    out = io.StringIO()
    call_command("export_audit", "--user", "dave", "--outcome", "denied", stdout=out)
    assert [json.loads(line)["action"] for line in out.getvalue().splitlines()] == ["openapiexplorer:GetRequestLog"]
    out = io.StringIO()
    call_command("export_audit", "--since", "2999-01-01", stdout=out)
    assert out.getvalue() == ""
