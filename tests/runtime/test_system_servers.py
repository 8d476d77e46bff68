"""System servers (sourceType system): created with every account, listed by the management API, usable
over MCP like any server, refused for update and delete; their management-API tools run as the caller.

Real uvicorn on loopback, the official MCP client and the official management SDK; no mocks.
"""

from __future__ import annotations

import io
import json
import time

import anyio
import pytest
from alibabacloud_openapiexplorer20241130 import models
from alibabacloud_openapiexplorer20241130.client import Client as SdkClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config
from django.core.management import call_command
from django.test import Client

from oauth import internal_credentials
from oauth.services import access_key_create, account_create, policy_create, user_create
from runtime.models import AuditEvent
from servers.models import McpServer
from servers.selectors import server_to_dict
from servers.system_servers import system_servers_ensure

pytestmark = pytest.mark.django_db(transaction=True)

LIST_TOOL = "OpenAPIExplorer-20241130-ListApiMcpServers"
GET_TOOL = "OpenAPIExplorer-20241130-GetApiMcpServer"


@pytest.fixture
def system_on(settings):
    settings.SYSTEM_SERVERS = True


def text_of(result):
    return json.loads(result.content[0].text)


def system(account, product):
    return McpServer.objects.get(account=account, source_type="system", system_product=product)


def mcp_url(live_server_url, server, *, short=False, product=None):
    mcp = server_to_dict(server)["urls"]["mcp"]
    path = "/accounts/" + mcp.split("/accounts/", 1)[1]
    if short:
        path = f"/accounts/{server.account_id}/system/{server.name}/id/{server.id}/mcp"
    if product:
        path = path.replace(f"/system/{server.system_product}/", f"/system/{product}/")
    return live_server_url + path


def call_all(mcp, url, token, calls):
    async def main():
        async with mcp.client(url, token) as client:
            listed = [t.name for t in (await client.list_tools()).tools]
            return listed, [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(main)


def wait_for(predicate):
    deadline = time.monotonic() + 10
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


# Lifecycle ---------------------------------------------------------------------------------------


def test_every_new_account_gets_its_system_servers_once(system_on, settings):
    account = account_create(name="Initech")
    servers = {s.system_product: s for s in McpServer.objects.filter(account=account, source_type="system")}
    assert set(servers) == {"OpenAPIExplorer", "ActionTrail"}
    versions = {s.pk: s.version for s in servers.values()}
    again = system_servers_ensure(account)
    assert {s.pk: s.version for s in again} == versions  # idempotent: nothing rewritten
    data = server_to_dict(servers["OpenAPIExplorer"])
    assert data["sourceType"] == "system"
    assert data["systemMcpServerInfo"] == {"product": "OpenAPIExplorer", "name": "mcp-system"}
    assert data["urls"]["mcp"].endswith(
        f"/accounts/{account.pk}/system/OpenAPIExplorer/mcp-system/id/{servers['OpenAPIExplorer'].pk}/mcp"
    )
    assert {i["apiName"] for i in data["apiInfos"]} >= {"ListApiMcpServers", "GenerateCLICommand"}
    assert server_to_dict(servers["ActionTrail"])["systemTools"] == ["LookupEvents"]
    # A changed definition (an upgrade) is written with a new version; the quota counts custom servers only.
    McpServer.objects.filter(pk=servers["ActionTrail"].pk).update(system_tools=[])
    system_servers_ensure(account)
    refreshed = McpServer.objects.get(pk=servers["ActionTrail"].pk)
    assert refreshed.system_tools == ["LookupEvents"] and refreshed.version == versions[refreshed.pk] + 1
    settings.MAX_SERVERS_PER_ACCOUNT = 1
    from servers.schemas import CreateApiMcpServerBody, parse_body
    from servers.services import server_create

    apis = [{"product": "OpenAPIExplorer", "apiVersion": "2024-11-30", "selectors": ["ListApiMcpServers"]}]
    assert (
        server_create(
            account=account, user=None, body=parse_body(CreateApiMcpServerBody, {"name": "mine", "apis": apis})
        ).source_type
        == "custom"
    )


def test_turning_them_off_creates_none(settings):
    settings.SYSTEM_SERVERS = False
    account = account_create(name="Hooli")
    assert not McpServer.objects.filter(account=account).exists()


# Over the wire -----------------------------------------------------------------------------------


def test_listed_usable_and_refused_for_update_and_delete(
    system_on, alice, charlie, pat, mcp, live_server_url, close_live_server_connections
):
    key = access_key_create(user=alice)
    sdk = SdkClient(
        Config(
            access_key_id=key.access_key_id,
            access_key_secret=key.access_key_secret,
            endpoint=live_server_url.removeprefix("http://"),
            protocol="HTTP",
        )
    )
    listed = sdk.list_api_mcp_servers(models.ListApiMcpServersRequest(source_type="system")).body
    assert {s.system_mcp_server_info.product for s in listed.api_mcp_servers} == {"OpenAPIExplorer", "ActionTrail"}
    management = system(alice.account, "OpenAPIExplorer")
    for call in (
        lambda: sdk.update_api_mcp_server(models.UpdateApiMcpServerRequest(id=management.pk, description="mine now")),
        lambda: sdk.delete_api_mcp_server(models.DeleteApiMcpServerRequest(id=management.pk)),
    ):
        with pytest.raises(AlibabaCloudException) as refused:
            call()
        assert refused.value.code == "OperationNotAllowed.SystemServer"
        assert refused.value.status_code == 403
    assert McpServer.objects.get(pk=management.pk).description.startswith("This console")

    token = pat(alice)
    tools, (servers, one, cli) = call_all(
        mcp,
        mcp_url(live_server_url, management),
        token,
        [
            (LIST_TOOL, {"sourceType": "system"}),
            (GET_TOOL, {"id": management.pk}),
            (
                "OpenAPIExplorer-20241130-GenerateCLICommand",
                {"body": {"product": "OpenAPIExplorer", "apiVersion": "2024-11-30", "api": "ListApiMcpServers"}},
            ),
        ],
    )
    assert LIST_TOOL in tools and "FetchRamActionDetails" in tools
    assert not servers.is_error, servers.content[0].text
    names = sorted(s["name"] for s in text_of(servers)["apiMcpServers"])
    assert names == ["actiontrail-mcp-system", "openapiexplorer-mcp-system"]
    assert text_of(one)["id"] == management.pk and text_of(one)["sourceType"] == "system"
    assert text_of(cli)["cli"].startswith("curl -X GET ")  # a form body (formData) through the runtime

    # The short URL form works too; a wrong product in the path does not; another account's user is refused.
    short, _ = call_all(mcp, mcp_url(live_server_url, management, short=True), token, [])
    assert LIST_TOOL in short
    with pytest.raises(Exception):  # noqa: B017 - the client raises on the 404 of the handshake
        call_all(mcp, mcp_url(live_server_url, management, product="Ecs"), token, [])
    with pytest.raises(Exception):  # noqa: B017 - 403 Forbidden.AccountMismatch
        call_all(mcp, mcp_url(live_server_url, management), pat(charlie), [])

    # The internal call was a management API call by alice herself, audited as such.
    assert wait_for(
        lambda: AuditEvent.objects.filter(kind="management", action="openapiexplorer:GetApiMcpServer").exists()
    )
    event = AuditEvent.objects.get(kind="management", action="openapiexplorer:GetApiMcpServer")
    assert (event.username, event.outcome, event.server_id) == ("alice", "success", management.pk)

    trail = system(alice.account, "ActionTrail")
    assert wait_for(lambda: AuditEvent.objects.filter(kind="tool_call", tool=LIST_TOOL).exists())
    tools, (events,) = call_all(mcp, mcp_url(live_server_url, trail), token, [("LookupEvents", {"tool": LIST_TOOL})])
    assert tools == ["LookupEvents"]
    (found,) = text_of(events)["events"]
    assert found["serverId"] == management.pk and found["outcome"] == "success"


def test_the_management_api_applies_the_callers_own_policies(system_on, alice, pat, mcp, live_server_url):
    carol = user_create(account=alice.account, username="carol", password="carol-password")
    policy = policy_create(
        account=alice.account,
        name="ServersButNotThisOne",
        document={
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "openapiexplorer:*", "Resource": "*"},
                # Matches only the management API's resource names, not the MCP tool's (acs:openapiexplorer:*:…).
                {
                    "Effect": "Deny",
                    "Action": "openapiexplorer:GetApiMcpServer",
                    "Resource": "acs:openapiexplorer::*:apimcpserver/*",
                },
            ],
        },
    )
    carol.policies.add(policy)
    management = system(alice.account, "OpenAPIExplorer")
    _, (listed, refused) = call_all(
        mcp,
        mcp_url(live_server_url, management),
        pat(carol),
        [(LIST_TOOL, {}), (GET_TOOL, {"id": management.pk})],
    )
    assert not listed.is_error and text_of(listed)["totalCount"] == 2
    assert refused.is_error
    error = text_of(refused)
    assert (error["httpStatus"], error["code"]) == (403, "Forbidden.RAM")
    assert "ServersButNotThisOne" in error["message"]
    assert wait_for(lambda: AuditEvent.objects.filter(kind="management", outcome="denied").exists())
    assert AuditEvent.objects.get(kind="management", outcome="denied").username == "carol"


# Internal credentials ----------------------------------------------------------------------------


def mint(user, **overrides):
    claims = {"user_id": user.pk, "account_id": str(user.account_id), "server_id": "s1", "client_id": "c1"}
    return internal_credentials.mint(**{**claims, "source_ip": "203.0.113.9", **overrides})


def test_internal_credentials_are_short_lived_same_host_and_exact(alice, charlie, settings):
    def status(token, **meta):
        return Client().get("/apimcpservers", HTTP_AUTHORIZATION=f"Bearer {token}", **meta).status_code

    good = mint(alice)
    assert status(good) == 200
    assert status(good[:-2] + ("AA" if not good.endswith("AA") else "BB")) == 401  # tampered
    assert status(good, REMOTE_ADDR="198.51.100.7") == 401  # not from this host
    assert status(mint(alice, account_id=str(charlie.account_id))) == 401  # claims another account
    settings.INTERNAL_CREDENTIAL_SECONDS = -1  # any age exceeds a negative lifetime
    assert status(good) == 401
    settings.INTERNAL_CREDENTIAL_SECONDS = 60
    alice.is_active = False
    alice.save()
    assert status(good) == 401


# The demo of `make run` --------------------------------------------------------------------------


def test_the_demo_servers_list_tool_returns_the_demo_accounts_servers(system_on, mcp, live_server_url):
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_token", "--user", "admin", stdout=out)
    token = out.getvalue().strip()
    demo = McpServer.objects.get(name="console-demo")
    url = f"{live_server_url}/accounts/{demo.account_id}/custom/console-demo/id/{demo.pk}/mcp"
    tools, (listed,) = call_all(mcp, url, token, [(LIST_TOOL, {})])
    assert LIST_TOOL in tools
    assert not listed.is_error, listed.content[0].text
    names = sorted(s["name"] for s in text_of(listed)["apiMcpServers"])
    assert names == ["actiontrail-mcp-system", "console-demo", "openapiexplorer-mcp-system"]
