"""System tools (SPEC §5.5) and CLI mode (§5.4) over real HTTP: official MCP client → uvicorn → runtime
→ a real upstream on loopback (which verifies V3 signatures with the official Alibaba package)."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from oauth.models import Connection
from runtime.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

ALL = ["FetchRamActionDetails", "SearchApis", "GetApiDefinition", "CallApi", "GenerateCLICommand", "LookupEvents"]
WIDGETS = {
    "openapi": "3.0.3",
    "info": {"title": "Widgets", "version": "1.2.0"},
    "servers": [{"url": "https://widgets.invalid/api"}],
    "paths": {
        "/teams/{team}/widgets": {
            "post": {
                "operationId": "createWidget",
                "parameters": [
                    {"name": "team", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                ],
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}}
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def text_of(result):
    return json.loads(result.content[0].text)


@pytest.fixture
def servers(make_server, alice, specs_dir):
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import import_alibaba_file, revision_create
    from servers.compiler import tool_name_candidate

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    import_alibaba_file(specs_dir / "alibaba" / "cs-2015-12-15.json")
    imported = import_openapi(WIDGETS, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    tools = make_server(
        alice.account,
        "ecs-system-tools",
        [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeInstances"]}],
        system_tools=[*ALL, "QueryTerraformTaskStatus"],
        additional_api_descriptions=[
            {
                "product": "Ecs",
                "apiVersion": "2014-05-26",
                "apiName": "DescribeInstances",
                "constParameters": [{"key": "PageSize", "value": 50}],
            }
        ],
    )
    cli = make_server(
        alice.account,
        "cli-mode",
        [
            {"product": "CS", "apiVersion": "2015-12-15", "selectors": ["ScaleClusterNodePool"]},
            {"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeInstances"]},
            {"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]},
        ],
        additional_api_descriptions=[
            {"product": "CS", "apiVersion": "2015-12-15", "apiName": "ScaleClusterNodePool", "executeCliCommand": True},
            {"product": "Ecs", "apiVersion": "2014-05-26", "apiName": "DescribeInstances", "executeCliCommand": True},
            {
                "product": imported.product,
                "apiVersion": imported.version,
                "apiName": "createWidget",
                "executeCliCommand": True,
            },
        ],
    )
    widget_tool = tool_name_candidate(imported.product, imported.version, "createWidget")
    return {"tools": tools, "cli": cli, "widgets": imported.product, "widget_tool": widget_tool}


def call_all(mcp, url, token, calls):
    """Run [(tool, arguments), …] in one MCP session; the results in order."""

    async def main():
        async with mcp.client(url, token) as client:
            return [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(main)


def wait_for_events(count, **filters):
    deadline = time.monotonic() + 10
    while AuditEvent.objects.filter(**filters).count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(AuditEvent.objects.filter(**filters).order_by("pk"))


# CLI mode ----------------------------------------------------------------------------------------


def test_cli_mode_returns_the_command_and_calls_nothing(live_server_url, mcp, upstream, servers, alice, pat):
    product = servers["widgets"]
    connection = Connection(account=alice.account, product=product, base_url=upstream.url + "/api")
    connection.save()
    url = live_server_url + mcp.path(servers["cli"]) + "/mcp"
    roa, rpc, curl = call_all(
        mcp,
        url,
        pat(alice),
        [
            (
                "CS-20151215-ScaleClusterNodePool",
                {"ClusterId": "c-1", "NodepoolId": "np/2", "body": {"count": 3}, "x_mcp_region_id": "cn-beijing"},
            ),
            (
                "Ecs-20140526-DescribeInstances",
                {"RegionId": "cn-hangzhou", "InstanceName": "$(reboot)", "Tag": [{"Key": "env", "Value": "a b"}]},
            ),
            (servers["widget_tool"], {"team": "red team", "tags": ["a"], "body": {"name": "it's"}}),
        ],
    )
    assert not roa.is_error and not rpc.is_error and not curl.is_error
    assert (
        roa.content[0].text
        == "aliyun cs POST /clusters/c-1/nodepools/np%2F2 --body '{\"count\":3}' --region cn-beijing"
    )
    assert rpc.content[0].text == (
        "aliyun ecs DescribeInstances --RegionId cn-hangzhou --InstanceName '$(reboot)' "
        "--Tag.1.Key env --Tag.1.Value 'a b'"
    )
    assert curl.content[0].text == (
        f"curl -X POST '{upstream.url}/api/teams/red%20team/widgets?tags=a' "
        "-H 'Content-Type: application/json' --data-raw '{\"name\":\"it'\"'\"'s\"}'"
    )
    assert upstream.requests == []
    events = wait_for_events(3, server_id=servers["cli"].id)
    assert {e.outcome for e in events} == {"success"} and all(e.upstream == {} for e in events)


# tools/list --------------------------------------------------------------------------------------


def test_enabled_system_tools_are_listed_after_the_api_tools(live_server_url, mcp, servers, alice, pat):
    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            return (await client.list_tools()).tools

    tools = anyio.run(main)
    assert [t.name for t in tools] == ["Ecs-20140526-DescribeInstances", *ALL]  # never QueryTerraformTaskStatus
    by_name = {t.name: t for t in tools}
    assert by_name["SearchApis"].input_schema["required"] == ["query"]
    assert by_name["CallApi"].annotations.read_only_hint is False
    assert by_name["LookupEvents"].annotations.read_only_hint is True


@pytest.fixture
def bob_system_tools(bob):
    """bob (limited) may also use every system tool: actions mcp:<Name>."""
    from oauth.services import policy_attach, policy_create

    document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "mcp:*", "Resource": "*"}]}
    policy_attach(user=bob, policy=policy_create(account=bob.account, name="SystemTools", document=document))


def test_system_tools_are_decided_by_the_callers_policies(live_server_url, mcp, servers, alice, bob, pat):
    from oauth.services import policy_attach, policy_create

    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    (refused,) = call_all(mcp, url, pat(bob), [("SearchApis", {"query": "disk"})])
    error = text_of(refused)
    assert refused.is_error and error["code"] == "Forbidden.RAM"
    resource = f"acs:mcp::{alice.account_id}:server/{servers['tools'].id}"
    assert f"action mcp:SearchApis on resource {resource} is not allowed by any of your policies." in error["message"]
    document = {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "mcp:Search*", "Resource": resource}]}
    policy_attach(user=alice, policy=policy_create(account=alice.account, name="NoSearch", document=document))
    denied, allowed = call_all(
        mcp,
        url,
        pat(alice),
        [("SearchApis", {"query": "disk"}), ("GetApiDefinition", {"product": "Ecs", "apiName": "DescribeRegions"})],
    )
    assert denied.is_error and "explicitly denied by policy NoSearch" in text_of(denied)["message"]
    assert not allowed.is_error, allowed.content[0].text
    (event,) = wait_for_events(
        1, server_id=servers["tools"].id, action="mcp:SearchApis", outcome="denied", username="bob"
    )
    assert event.error_code == "Forbidden.RAM"


# FetchRamActionDetails ---------------------------------------------------------------------------


def test_fetch_ram_action_details_explains_allow_implicit_and_explicit_deny(
    live_server_url, mcp, servers, alice, bob, bob_system_tools, pat
):
    from oauth.services import policy_create

    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    arguments = {"apis": [{"product": "Ecs", "apiName": "DeleteInstance"}]}
    (mine,) = call_all(mcp, url, pat(alice), [("FetchRamActionDetails", {})])
    details = text_of(mine)
    assert details["allowed"] is True and details["user"] == "alice"
    (one,) = details["details"]
    assert one["tool"] == "Ecs-20140526-DescribeInstances" and one["action"] == "ecs:DescribeInstances"
    assert one["decision"] == "allow" and one["policyName"] == "AdministratorAccess"
    assert one["statement"] == {"Effect": "Allow", "Action": "*", "Resource": "*"}

    deny = policy_create(
        account=bob.account,
        name="NoDeletes",
        document={"Version": "1", "Statement": [{"Effect": "Deny", "Action": "ecs:Delete*", "Resource": "*"}]},
    )
    bob.policies.add(deny)
    (theirs,) = call_all(mcp, url, pat(bob), [("FetchRamActionDetails", {"toolNames": [], **arguments})])
    bobs = text_of(theirs)
    assert bobs["allowed"] is False
    assert bobs["details"][0]["decision"] == "explicit-deny" and bobs["details"][0]["policyName"] == "NoDeletes"
    (implicit,) = call_all(mcp, url, pat(bob), [("FetchRamActionDetails", {})])
    missing = text_of(implicit)
    assert missing["details"][0]["decision"] == "implicit-deny"
    assert missing["policyToAllowMissing"]["Statement"][0]["Action"] == ["ecs:DescribeInstances"]


# SearchApis, GetApiDefinition, GenerateCLICommand -----------------------------------------------------


def test_search_sees_a_new_revision_at_once(live_server_url, mcp, servers, alice, pat, specs_dir):
    """A re-import announces the product version's new revision; the runtime's cached key is dropped."""
    from servers.catalog import import_document
    from servers.catalog.services import revision_create

    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    query = {"query": "teleport", "product": "Ecs"}
    (before,) = call_all(mcp, url, pat(alice), [("SearchApis", query)])
    assert text_of(before)["apis"] == []
    doc = json.loads((specs_dir / "alibaba" / "ecs-2014-05-26.json").read_text())
    doc["apis"]["TeleportInstance"] = {**doc["apis"]["DescribeRegions"], "summary": "Teleports an instance."}
    imported = import_document(doc)
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    (after,) = call_all(mcp, url, pat(alice), [("SearchApis", query)])
    assert [api["apiName"] for api in text_of(after)["apis"]] == ["TeleportInstance"]


def test_search_get_definition_and_generate_cli_command(live_server_url, mcp, servers, alice, pat):
    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    search, exact, definition, command, unknown, other = call_all(
        mcp,
        url,
        pat(alice),
        [
            ("SearchApis", {"query": "describe instances", "maxResults": 5}),
            ("SearchApis", {"query": "DescribeRegions", "product": "ecs"}),
            ("GetApiDefinition", {"product": "Ecs", "apiName": "DescribeRegions"}),
            (
                "GenerateCLICommand",
                {"product": "Ecs", "apiName": "DescribeInstances", "parameters": {"RegionId": "cn-hangzhou"}},
            ),
            ("GetApiDefinition", {"product": "Ecs", "apiName": "Teleport"}),
            ("SearchApis", {"query": "clusters", "product": "CS"}),
        ],
    )
    found = text_of(search)
    assert found["product"] == "Ecs" and found["apiVersion"] == "2014-05-26" and found["totalApis"] > 300
    assert found["apis"][0]["apiName"] == "DescribeInstances"
    assert found["apis"][0]["tool"] == "Ecs-20140526-DescribeInstances"
    assert len(found["apis"]) == 5
    assert text_of(exact)["apis"][0]["apiName"] == "DescribeRegions"
    got = text_of(definition)
    assert got["action"] == "ecs:DescribeRegions" and "tool" not in got
    assert got["inputSchema"]["type"] == "object" and "x_mcp_region_id" in got["inputSchema"]["properties"]
    assert got["definition"]["parameters"]
    # The server's constant (PageSize) applies to the command as it does to the tool.
    assert command.content[0].text == "aliyun ecs DescribeInstances --RegionId cn-hangzhou --PageSize 50"
    assert unknown.is_error and text_of(unknown)["code"] == "NotFound.Api"
    assert other.is_error and text_of(other)["code"] == "NotFound.Product"
    assert "Ecs 2014-05-26" in text_of(other)["message"]


# CallApi -----------------------------------------------------------------------------------------


def test_call_api_runs_the_same_checks_as_a_tool(
    live_server_url, mcp, upstream, servers, alice, bob, bob_system_tools, pat, ak_connection
):
    ak_connection(alice.account, "Ecs", base_url=upstream.url)
    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    regions, invalid, as_tool = call_all(
        mcp,
        url,
        pat(alice),
        [
            ("CallApi", {"product": "Ecs", "apiName": "DescribeRegions", "parameters": {"AcceptLanguage": "en-US"}}),
            ("CallApi", {"product": "Ecs", "apiName": "DescribeRegions", "parameters": {"Nope": 1}}),
            ("CallApi", {"product": "Ecs", "apiName": "DescribeInstances", "parameters": {"RegionId": "cn-hangzhou"}}),
        ],
    )
    assert not regions.is_error, regions.content[0].text
    echo = text_of(regions)
    assert echo["headers"]["x-acs-action"] == "DescribeRegions"
    assert echo["headers"]["authorization"].startswith("ACS3-HMAC-SHA256")  # the signature verified upstream
    assert echo["query"]["AcceptLanguage"] == "en-US"
    assert invalid.is_error and text_of(invalid)["message"] == 'Unknown argument "Nope"'
    assert text_of(as_tool)["query"]["PageSize"] == "50"  # an API that is a tool runs as that tool
    assert len(upstream.requests) == 2

    (denied,) = call_all(mcp, url, pat(bob), [("CallApi", {"product": "Ecs", "apiName": "DescribeRegions"})])
    assert denied.is_error and text_of(denied)["code"] == "Forbidden.RAM"
    assert len(upstream.requests) == 2
    events = wait_for_events(3, server_id=servers["tools"].id, action="ecs:DescribeRegions")
    assert [(e.username, e.outcome) for e in events] == [("alice", "success"), ("alice", "invalid"), ("bob", "denied")]
    success = events[0]
    assert success.tool == "Ecs-20140526-DescribeRegions" and success.upstream["status"] == 200


# LookupEvents ------------------------------------------------------------------------------------


def test_lookup_events_shows_only_the_callers_own_events(
    live_server_url, mcp, servers, alice, bob, bob_system_tools, pat
):
    url = live_server_url + mcp.path(servers["tools"]) + "/mcp"
    alice_token, bob_token = pat(alice), pat(bob)
    call_all(mcp, url, bob_token, [("Ecs-20140526-DescribeInstances", {"RegionId": "cn-hangzhou"})])
    call_all(
        mcp,
        url,
        alice_token,
        [
            ("SearchApis", {"query": "vpc"}),
            ("SearchApis", {"query": "disk"}),
            ("GetApiDefinition", {"product": "Ecs", "apiName": "Nope"}),
        ],
    )
    wait_for_events(4, server_id=servers["tools"].id)
    everything, invalid, page, others, bad = call_all(
        mcp,
        url,
        alice_token,
        [
            ("LookupEvents", {}),
            ("LookupEvents", {"outcome": "invalid", "tool": "GetApiDefinition"}),
            ("LookupEvents", {"maxResults": 1, "tool": "mcp:SearchApis", "startTime": "2000-01-01T00:00:00Z"}),
            ("LookupEvents", {"tool": "Ecs-20140526-DescribeInstances"}),
            ("LookupEvents", {"startTime": "yesterday"}),
        ],
    )
    events = text_of(everything)["events"]
    assert [e["tool"] for e in events] == ["GetApiDefinition", "SearchApis", "SearchApis"]  # newest first, only hers
    assert events[1]["action"] == "mcp:SearchApis" and events[1]["arguments"] == {"query": "disk"}
    assert [e["errorCode"] for e in text_of(invalid)["events"]] == ["NotFound.Api"]
    first = text_of(page)
    assert [e["arguments"]["query"] for e in first["events"]] == ["disk"] and first["nextToken"]
    assert text_of(others)["events"] == []
    assert bad.is_error and "startTime" in text_of(bad)["message"]
    follow = {"maxResults": 1, "tool": "SearchApis", "nextToken": first["nextToken"]}
    (second,) = call_all(mcp, url, alice_token, [("LookupEvents", follow)])
    assert [e["arguments"]["query"] for e in text_of(second)["events"]] == ["vpc"]
    assert "nextToken" not in text_of(second)
    (theirs,) = call_all(mcp, url, bob_token, [("LookupEvents", {"outcome": "denied"})])
    assert [e["errorCode"] for e in text_of(theirs)["events"]] == ["Forbidden.RAM"]
