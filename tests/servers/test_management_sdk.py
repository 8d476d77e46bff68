"""The official Python SDK (alibabacloud_openapiexplorer20241130) manages servers here unchanged.

The real ASGI application runs under uvicorn on loopback; the SDK signs with ACS3-HMAC-SHA256 using
an AccessKey issued by oauth.services.access_key_create.
"""

from __future__ import annotations

import pytest
from alibabacloud_openapiexplorer20241130 import models
from alibabacloud_openapiexplorer20241130.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config

from oauth.services import access_key_create
from servers.models import McpServer

RAM = models.CreateApiMcpServerRequestApis(product="Ram", api_version="2015-05-01", selectors=["GetUser", "ListUsers"])


def sdk(user, live_server_url, secret=None):
    key = access_key_create(user=user)
    return Client(
        Config(
            access_key_id=key.access_key_id,
            access_key_secret=secret or key.access_key_secret,
            endpoint=live_server_url.removeprefix("http://"),
            protocol="HTTP",
        )
    )


def error_code(call):
    with pytest.raises(AlibabaCloudException) as exc:
        call()
    return exc.value.code


@pytest.fixture
def client(alice, catalog, live_server_url, close_live_server_connections):
    return sdk(alice, live_server_url)


def test_the_sdk_creates_gets_updates_lists_and_deletes(client, alice):
    created = client.create_api_mcp_server(
        models.CreateApiMcpServerRequest(
            name="sdk-demo",
            description="made by the SDK",
            language="ZH_CN",
            apis=[RAM],
            system_tools=["FetchRamActionDetails"],
            prompts=[
                models.CreateApiMcpServerRequestPrompts(
                    name="whoami",
                    content="Describe user {{user}}",
                    arguments=[models.CreateApiMcpServerRequestPromptsArguments(name="user", required=True)],
                )
            ],
            terraform_tools=[
                models.CreateApiMcpServerRequestTerraformTools(
                    name="make-vpc",
                    description="Create a VPC",
                    code='variable "name" {\n  type = string\n}\n',
                    async_=True,
                    destroy_policy="ON_FAILURE",
                )
            ],
            client_token="sdk-create-1",
        )
    )
    assert created.status_code == 200
    server_id = created.body.id
    assert created.body.request_id and created.body.urls.mcp.endswith(f"/custom/sdk-demo/id/{server_id}/mcp")
    assert McpServer.objects.get(pk=server_id).account_id == alice.account_id

    got = client.get_api_mcp_server(models.GetApiMcpServerRequest(id=server_id)).body
    assert (got.name, got.language, got.source_type) == ("sdk-demo", "ZH_CN", "custom")
    assert [a.api_name for a in got.api_infos] == ["GetUser", "ListUsers"]
    assert '"ram:GetUser"' in got.required_rampolicy
    assert got.terraform_tools[0].async_ is True and got.terraform_tools[0].destroy_policy == "ON_FAILURE"
    assert got.prompts[0].arguments[0].required is True
    assert got.create_time.endswith("Z") and got.urls.vpc_sse.endswith("/sse")

    client.update_api_mcp_server(
        models.UpdateApiMcpServerRequest(
            id=server_id,
            client_token="sdk-update-1",
            description="updated",
            apis=[models.UpdateApiMcpServerRequestApis(product="Sts", api_version="2015-04-01", selectors=["*"])],
        )
    )
    got = client.get_api_mcp_server(models.GetApiMcpServerRequest(id=server_id)).body
    assert got.description == "updated" and got.language == "ZH_CN"  # omitted fields unchanged
    assert {a.product for a in got.api_infos} == {"Sts"}

    client.delete_api_mcp_server(models.DeleteApiMcpServerRequest(id=server_id, client_token="sdk-delete-1"))
    assert not McpServer.objects.filter(pk=server_id).exists()
    assert error_code(lambda: client.get_api_mcp_server(models.GetApiMcpServerRequest(id=server_id))) == (
        "NotFound.ApiMcpServer"
    )


def test_the_sdk_pages_through_a_list_with_next_token(client):
    for i in range(5):
        client.create_api_mcp_server(models.CreateApiMcpServerRequest(name=f"page-{i}", apis=[RAM]))
    names, token, pages = [], None, 0
    while True:
        body = client.list_api_mcp_servers(models.ListApiMcpServersRequest(max_results=2, next_token=token)).body
        pages += 1
        assert body.total_count == 5 and body.max_results == 2
        names += [s.name for s in body.api_mcp_servers]
        token = body.next_token
        if not token:
            break
    assert pages == 3 and names == [f"page-{i}" for i in reversed(range(5))]
    found = client.list_api_mcp_servers(models.ListApiMcpServersRequest(keyword="page-3")).body
    assert [s.name for s in found.api_mcp_servers] == ["page-3"]


def test_the_sdk_reads_system_tools_and_the_user_config(client, alice):
    tools = client.list_api_mcp_server_system_tools(models.ListApiMcpServerSystemToolsRequest()).body
    assert tools.total_count == 6 and "CallApi" in {t.name for t in tools.system_tools}
    client.update_api_mcp_server_user_config(
        models.UpdateApiMcpServerUserConfigRequest(enable_public_access=False, vpc_whitelists=["vpc-1"])
    )
    config = client.get_api_mcp_server_user_config().body
    assert (config.account_id, config.enable_public_access, config.vpc_whitelists) == (
        alice.account_id,
        False,
        ["vpc-1"],
    )


def test_spec_error_codes_reach_the_sdk_as_exception_codes(client, alice, bob, charlie, live_server_url):
    server_id = client.create_api_mcp_server(models.CreateApiMcpServerRequest(name="taken", apis=[RAM])).body.id
    create = client.create_api_mcp_server
    codes = {
        error_code(lambda: create(models.CreateApiMcpServerRequest(name="taken", apis=[RAM]))),
        error_code(lambda: create(models.CreateApiMcpServerRequest(name="9lives", apis=[RAM]))),
        error_code(lambda: create(models.CreateApiMcpServerRequest(name="abc"))),
        error_code(lambda: create(models.CreateApiMcpServerRequest(name="abc", apis=[RAM], system_tools=["Nope"]))),
        error_code(
            lambda: create(
                models.CreateApiMcpServerRequest(
                    name="abc",
                    apis=[models.CreateApiMcpServerRequestApis(product="Nope", api_version="1", selectors=["*"])],
                )
            )
        ),
        error_code(lambda: create(models.CreateApiMcpServerRequest(name="abc", apis=[RAM], client_token="t" * 65))),
        error_code(lambda: client.list_api_mcp_servers(models.ListApiMcpServersRequest(next_token="forged.token"))),
        error_code(
            lambda: sdk(bob, live_server_url).delete_api_mcp_server(models.DeleteApiMcpServerRequest(id=server_id))
        ),
        error_code(
            lambda: sdk(charlie, live_server_url).get_api_mcp_server(models.GetApiMcpServerRequest(id=server_id))
        ),
        error_code(
            lambda: sdk(alice, live_server_url, secret="wrong").get_api_mcp_server(
                models.GetApiMcpServerRequest(id=server_id)
            )
        ),
    }
    assert codes == {
        "Exists.Name",
        "InvalidParam.Name",
        "Missing.Apis",
        "InvalidParam.SystemTools",
        "InvalidParam.Apis.PopCode",
        "InvalidParam.ClientToken",
        "InvalidParam.NextToken",
        "Forbidden.RAM",
        "NotFound.ApiMcpServer",
        "SignatureDoesNotMatch",
    }
    assert McpServer.objects.count() == 1


def test_the_sdk_sees_idempotency_mismatches_and_system_servers(client, alice):
    client.create_api_mcp_server(models.CreateApiMcpServerRequest(name="once", apis=[RAM], client_token="same"))
    again = client.create_api_mcp_server(models.CreateApiMcpServerRequest(name="once", apis=[RAM], client_token="same"))
    assert again.body.id == McpServer.objects.get(name="once").pk
    code = error_code(
        lambda: client.create_api_mcp_server(
            models.CreateApiMcpServerRequest(name="twice", apis=[RAM], client_token="same")
        )
    )
    assert code == "IdempotentParameterMismatch"
    system = McpServer.objects.create(account=alice.account, name="official", source_type="system")
    code = error_code(lambda: client.delete_api_mcp_server(models.DeleteApiMcpServerRequest(id=system.pk)))
    assert code == "OperationNotAllowed.SystemServer"
