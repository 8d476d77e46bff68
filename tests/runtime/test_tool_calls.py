"""tools/call end to end: official MCP client → runtime → a real upstream HTTP API on loopback.

The upstream verifies Alibaba Cloud V3 signatures with the official alibabacloud-tea-openapi code.
"""

from __future__ import annotations

import json
import time

import anyio
import pytest

from oauth.models import Connection
from runtime.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

OPENAPI_DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Widgets", "version": "1.2.0"},
    "servers": [{"url": "https://widgets.invalid/api"}],
    "paths": {
        "/teams/{team}/widgets": {
            "post": {
                "operationId": "createWidget",
                "summary": "Create a widget",
                "parameters": [
                    {"name": "team", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "X-Request-Source", "in": "header", "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def text_of(result):
    return json.loads(result.content[0].text)


@pytest.fixture
def catalog_servers(make_server, alice, specs_dir):
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import import_alibaba_file, revision_create

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    import_alibaba_file(specs_dir / "alibaba" / "cs-2015-12-15.json")
    imported = import_openapi(OPENAPI_DOC, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    ecs = make_server(
        alice.account,
        "ecs",
        [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeInstances"]}],
        additional_api_descriptions=[
            {
                "product": "Ecs",
                "apiVersion": "2014-05-26",
                "apiName": "DescribeInstances",
                "constParameters": [{"key": "PageSize", "value": 50}],
            }
        ],
    )
    cs = make_server(
        alice.account,
        "cs",
        [{"product": "CS", "apiVersion": "2015-12-15", "selectors": ["ScaleClusterNodePool"]}],
        additional_api_descriptions=[
            {
                "product": "CS",
                "apiVersion": "2015-12-15",
                "apiName": "ScaleClusterNodePool",
                "enableOutputSchema": True,
            }
        ],
    )
    widgets = make_server(
        alice.account,
        "widgets",
        [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}],
    )
    return {"ecs": ecs, "cs": cs, "widgets": widgets, "widgets_product": imported.product}


def test_rpc_call_is_signed_routed_by_region_and_merges_constants(
    live_server_url, mcp, upstream, catalog_servers, alice, pat, ak_connection
):
    ak_connection(
        alice.account,
        "Ecs",
        region_endpoints={"cn-hangzhou": upstream.url, "cn-beijing": upstream.alt_url},
    )
    server = catalog_servers["ecs"]
    url = live_server_url + mcp.path(server) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            result = await client.call_tool(
                "Ecs-20140526-DescribeInstances",
                {
                    "x_mcp_region_id": "cn-beijing",
                    "RegionId": "cn-beijing",
                    "Tag": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a b"}],
                },
            )
            assert result.is_error is False, result.content[0].text
            return text_of(result)

    echo = anyio.run(main)
    assert echo["host"] == upstream.alt_url.split("://")[1]  # the cn-beijing endpoint
    assert echo["method"] == "POST" and echo["path"] == "/"
    assert echo["headers"]["x-acs-action"] == "DescribeInstances"
    assert echo["headers"]["x-acs-version"] == "2014-05-26"
    assert echo["query"]["RegionId"] == "cn-beijing"
    assert echo["query"]["PageSize"] == "50"  # the constant parameter
    assert echo["query"]["Tag.1.Key"] == "env" and echo["query"]["Tag.2.Value"] == "a b"
    assert echo["headers"]["authorization"].startswith("ACS3-HMAC-SHA256 Credential=")


def test_upstream_errors_carry_the_documented_meaning(
    live_server_url, mcp, upstream, catalog_servers, alice, pat, ak_connection
):
    ak_connection(alice.account, "Ecs", base_url=upstream.url)
    url = live_server_url + mcp.path(catalog_servers["ecs"]) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            return await client.call_tool(
                "Ecs-20140526-DescribeInstances",
                {"x_mcp_region_id": "cn-hangzhou", "RegionId": "cn-hangzhou", "VpcId": "error:400:InvalidTag.Mismatch"},
            )

    result = anyio.run(main)
    assert result.is_error is True
    error = text_of(result)
    assert error["httpStatus"] == 400
    assert error["code"] == "InvalidTag.Mismatch"
    assert error["requestId"]
    assert error["documentation"] == "The specified Tag.n.Key and Tag.n.Value are not match."


def test_a_wrong_secret_is_rejected_by_the_upstream_signature_check(
    live_server_url, mcp, upstream, catalog_servers, alice, pat, ak_connection
):
    ak_connection(alice.account, "Ecs", base_url=upstream.url, secret="not-the-secret")
    url = live_server_url + mcp.path(catalog_servers["ecs"]) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            return await client.call_tool("Ecs-20140526-DescribeInstances", {"RegionId": "cn-hangzhou"})

    result = anyio.run(main)
    assert result.is_error is True
    assert text_of(result)["code"] == "SignatureDoesNotMatch"


def test_roa_call_with_a_json_body_and_structured_content(
    live_server_url, mcp, upstream, catalog_servers, alice, pat, ak_connection
):
    ak_connection(alice.account, "CS", base_url=upstream.url)
    url = live_server_url + mcp.path(catalog_servers["cs"]) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            listed = await client.list_tools()
            tool = listed.tools[0]
            assert tool.output_schema is not None
            return await client.call_tool(tool.name, {"ClusterId": "c-1", "NodepoolId": "np/2", "body": {"count": 3}})

    result = anyio.run(main)
    assert result.is_error is False, result.content[0].text
    echo = text_of(result)
    assert echo["method"] == "POST"
    assert echo["path"] == "/clusters/c-1/nodepools/np%2F2"
    assert echo["json"] == {"count": 3}
    assert echo["headers"]["x-acs-action"] == "ScaleClusterNodePool"
    assert echo["headers"]["content-type"].startswith("application/json")
    assert result.structured_content["RequestId"] == echo["RequestId"]


def test_openapi_operation_with_path_query_header_and_body(live_server_url, mcp, upstream, catalog_servers, alice, pat):
    product = catalog_servers["widgets_product"]
    connection = Connection(account=alice.account, product=product, base_url=upstream.url + "/api", auth_type="api_key")
    connection.auth_config = {"name": "X-Api-Key", "in": "header"}
    connection.set_secrets({"api_key": "k-123"})
    connection.save()
    url = live_server_url + mcp.path(catalog_servers["widgets"]) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            listed = await client.list_tools()
            assert len(listed.tools) == 1
            tool = listed.tools[0]
            return await client.call_tool(
                tool.name,
                {
                    "team": "red team",
                    "tags": ["a", "b"],
                    "X-Request-Source": "mcp",
                    "body": {"name": "gizmo", "size": 2},
                },
            )

    result = anyio.run(main)
    assert result.is_error is False, result.content[0].text
    echo = text_of(result)
    assert echo["path"] == "/api/teams/red%20team/widgets"
    last = upstream.last()
    assert last["query_list"] == [("tags", "a"), ("tags", "b")]
    assert last["headers"]["x-request-source"] == "mcp"
    assert last["headers"]["x-api-key"] == "k-123"
    assert json.loads(last["body"]) == {"name": "gizmo", "size": 2}


def test_invalid_arguments_name_the_field(live_server_url, mcp, upstream, catalog_servers, alice, pat, ak_connection):
    ak_connection(alice.account, "Ecs", base_url=upstream.url)
    url = live_server_url + mcp.path(catalog_servers["ecs"]) + "/mcp"
    token = pat(alice)

    async def main():
        async with mcp.client(url, token) as client:
            wrong_type = await client.call_tool(
                "Ecs-20140526-DescribeInstances", {"RegionId": "cn-hangzhou", "MaxResults": "x"}
            )
            missing = await client.call_tool("Ecs-20140526-DescribeInstances", {})
            return wrong_type, missing

    wrong_type, missing = anyio.run(main)
    assert wrong_type.is_error and "MaxResults" in text_of(wrong_type)["message"]
    assert missing.is_error and 'Missing required argument "RegionId"' in text_of(missing)["message"]
    assert upstream.requests == []


def test_policies_are_enforced_and_calls_are_audited(
    live_server_url, mcp, upstream, catalog_servers, alice, bob, pat, ak_connection
):
    ak_connection(alice.account, "Ecs", base_url=upstream.url)
    url = live_server_url + mcp.path(catalog_servers["ecs"]) + "/mcp"
    alice_token, bob_token = pat(alice), pat(bob)

    async def call(token):
        async with mcp.client(url, token) as client:
            return await client.call_tool("Ecs-20140526-DescribeInstances", {"RegionId": "cn-hangzhou"})

    denied = anyio.run(call, bob_token)
    assert denied.is_error and text_of(denied)["code"] == "Forbidden.RAM"
    assert "ecs:DescribeInstances" in text_of(denied)["message"]
    allowed = anyio.run(call, alice_token)
    assert allowed.is_error is False
    assert len(upstream.requests) == 1
    deadline = time.monotonic() + 10
    while AuditEvent.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = {e.username: e for e in AuditEvent.objects.all()}
    assert events["bob"].outcome == "denied" and events["bob"].error_code == "Forbidden.RAM"
    assert events["alice"].outcome == "success"
    assert events["alice"].action == "ecs:DescribeInstances"
    assert events["alice"].upstream["status"] == 200
    assert events["alice"].upstream_request_id
    assert events["alice"].server_id == catalog_servers["ecs"].id
