"""MCP endpoints over real HTTP with the official MCP client: handshake, tools, prompts, transports."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

PROMPTS = [
    {
        "name": "inspect_region",
        "description": "Look at a region",
        "content": "List the ECS instances in {{region}} for team {{team}}.",
        "arguments": [
            {"name": "region", "description": "Region id", "required": True},
            {"name": "team", "description": "Team", "required": False},
        ],
    }
]


@pytest.fixture
def ecs_server(make_server, alice, specs_dir):
    from servers.catalog.services import import_alibaba_file

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    return make_server(
        alice.account,
        "ecs-ops",
        [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions", "DescribeInstances"]}],
        instructions="Use these tools to inspect ECS.",
        prompts=PROMPTS,
    )


def compiled_tools(server):
    from servers.snapshot import compiled_for_server

    return json.loads(json.dumps(list(compiled_for_server(server).tools)))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_streamable_http_serves_instructions_tools_and_prompts(live_server_url, mcp, ecs_server, alice, pat, mode):
    url = live_server_url + mcp.path(ecs_server) + "/mcp"
    token = pat(alice)
    expected = compiled_tools(ecs_server)

    async def main():
        async with mcp.client(url, token, mode=mode) as client:
            if mode == "legacy":
                init = client.session.initialize_result
                assert init.instructions == "Use these tools to inspect ECS."
                assert init.server_info.name == "ecs-ops"
                assert init.capabilities.tools.list_changed is True
            else:
                assert client.protocol_version == "2026-07-28"
            tools = await client.list_tools()
            listed = [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools.tools]
            assert [t["name"] for t in listed] == [t["name"] for t in expected]
            assert [t["inputSchema"] for t in listed] == [t["inputSchema"] for t in expected]
            prompts = await client.list_prompts()
            assert [p.name for p in prompts.prompts] == ["inspect_region"]
            got = await client.get_prompt("inspect_region", {"region": "cn-hangzhou", "team": "core"})
            assert got.messages[0].content.text == "List the ECS instances in cn-hangzhou for team core."
            if mode == "legacy":
                await client.send_ping()

    anyio.run(main)


def test_discover_reports_instructions_on_2026_protocol(live_server_url, mcp, ecs_server, alice, pat):
    url = live_server_url + mcp.path(ecs_server) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token, mode="auto") as client:
            assert client.protocol_version == "2026-07-28"
            assert client.session.discover_result.instructions == "Use these tools to inspect ECS."

    anyio.run(main)


def test_stateless_streamable_http(live_server_url, mcp, ecs_server, alice, pat, settings):
    settings.MCP_STATELESS_HTTP = True
    url = live_server_url + mcp.path(ecs_server) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token, mode="legacy") as client:
            assert client.session.initialize_result.instructions == "Use these tools to inspect ECS."
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == {"Ecs-20140526-DescribeRegions", "Ecs-20140526-DescribeInstances"}

    anyio.run(main)
    # No session id is handed out in stateless mode.
    response = httpx.post(
        url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        headers={"Authorization": f"Bearer {pat(alice)}", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers


def test_sse_transport(live_server_url, mcp, ecs_server, alice, pat):
    url = live_server_url + mcp.path(ecs_server) + "/sse"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token, transport="sse") as client:
            assert client.session.initialize_result.instructions == "Use these tools to inspect ECS."
            tools = await client.list_tools()
            assert len(tools.tools) == 2
            got = await client.get_prompt("inspect_region", {"region": "cn-beijing"})
            assert "cn-beijing" in got.messages[0].content.text

    anyio.run(main)


def test_prompt_errors_and_completion(live_server_url, mcp, ecs_server, alice, pat):
    from mcp.shared.exceptions import MCPError
    from mcp_types import PromptReference

    url = live_server_url + mcp.path(ecs_server) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            with pytest.raises(MCPError, match="Missing required argument\\(s\\) for prompt 'inspect_region': region"):
                await client.get_prompt("inspect_region", {})
            with pytest.raises(MCPError, match="Unknown argument\\(s\\) for prompt 'inspect_region': colour"):
                await client.get_prompt("inspect_region", {"region": "cn-hangzhou", "colour": "red"})
            done = await client.complete(
                PromptReference(type="ref/prompt", name="inspect_region"), {"name": "region", "value": "cn-h"}
            )
            assert "cn-hangzhou" in done.completion.values
            assert all(v.startswith("cn-h") for v in done.completion.values)
            await client.set_logging_level("info")

    anyio.run(main)


def test_a_session_opened_on_one_server_is_refused_on_another(
    live_server_url, mcp, ecs_server, make_server, alice, pat
):
    other = make_server(
        alice.account, "other", [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions"]}]
    )
    token = pat(alice)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    first = httpx.post(live_server_url + mcp.path(ecs_server) + "/mcp", json=init, headers=headers)
    session = first.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    refused = httpx.post(
        live_server_url + mcp.path(other) + "/mcp", json=listing, headers={**headers, "mcp-session-id": session}
    )
    assert refused.status_code == 404


def test_unknown_servers_and_wrong_names_are_404_json(live_server_url, mcp, ecs_server, alice, pat):
    """With valid credentials (without them every MCP path answers the same 401 challenge)."""
    token = pat(alice)
    for path in (
        "/accounts/1/custom/nope/id/nope/mcp",
        f"/accounts/{ecs_server.account_id}/custom/wrong-name/id/{ecs_server.id}/mcp",
        f"/accounts/999/custom/{ecs_server.name}/id/{ecs_server.id}/sse",
    ):
        response = httpx.post(live_server_url + path, json={}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404
        assert response.json()["code"] == "NotFound.ApiMcpServer"


def test_dns_rebinding_is_refused(live_server_url, mcp, ecs_server, alice, pat):
    response = httpx.post(
        live_server_url + mcp.path(ecs_server) + "/mcp",
        json={},
        headers={"Host": "evil.example", "Authorization": f"Bearer {pat(alice)}"},
    )
    assert response.status_code == 421
