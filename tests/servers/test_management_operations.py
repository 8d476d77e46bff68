"""The server operations of the management API, through a console session (Django test client)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from servers import events
from servers.models import IdempotencyRecord, McpServer

BASE = {"name": "ram-tools", "apis": [{"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}]}


def call(client, method, path, params=None, body=None):
    url = path + ("?" + urlencode(params) if params else "")
    if body is None:
        return client.generic(method, url)
    return client.generic(method, url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def api(alice, catalog):
    client = Client()
    client.force_login(alice)
    return client


def create(api, **fields):
    response = call(api, "POST", "/apimcpserver", body={**BASE, **fields})
    assert response.status_code == 200, response.content
    return response.json()


def test_it_creates_a_server_and_returns_its_urls(api, alice, settings):
    body = create(api, description="IAM helpers")
    server = McpServer.objects.get(pk=body["id"])
    assert server.account_id == alice.account_id and server.name == "ram-tools" and server.version == 1
    prefix = f"/accounts/{alice.account_id}/custom/ram-tools/id/{server.id}"
    assert body["urls"] == {
        "sse": f"{settings.PUBLIC_BASE_URL}{prefix}/sse",
        "mcp": f"{settings.PUBLIC_BASE_URL}{prefix}/mcp",
        "vpcSse": f"{settings.INTERNAL_BASE_URL}{prefix}/sse",
        "vpcMcp": f"{settings.INTERNAL_BASE_URL}{prefix}/mcp",
    }
    assert len(body["requestId"]) == 36 and body["warnings"] == []


def test_get_returns_the_full_model_with_resolved_apis_and_policy(api):
    server_id = create(
        api,
        apis=[
            {"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser", "List?sers"]},
            {"product": "Sts", "apiVersion": "2015-04-01", "selectors": ["GetCallerIdentity"]},
        ],
        systemTools=["FetchRamActionDetails"],
        prompts=[{"name": "greet", "content": "Hello {{who}}", "arguments": [{"name": "who", "required": True}]}],
        terraformTools=[{"name": "vpc", "description": "a VPC", "code": 'variable "name" {\n  default = "x"\n}\n'}],
    )["id"]
    response = call(api, "GET", "/apimcpserver", {"id": server_id})
    assert response.status_code == 200
    body = response.json()
    assert [(a["product"], a["apiName"]) for a in body["apiInfos"]] == [
        ("Ram", "GetUser"),
        ("Ram", "ListUsers"),
        ("Sts", "GetCallerIdentity"),
    ]
    policy = json.loads(body["requiredRAMPolicy"])
    assert policy == {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": ["ram:GetUser", "ram:ListUsers", "sts:GetCallerIdentity"], "Resource": "*"}
        ],
    }
    assert body["prompts"] == [
        {
            "name": "greet",
            "description": "",
            "content": "Hello {{who}}",
            "arguments": [{"name": "who", "description": "", "required": True}],
        }
    ]
    assert body["terraformTools"][0]["async"] is False and body["terraformTools"][0]["destroyPolicy"] == "NEVER"
    assert body["sourceType"] == "custom" and body["language"] == "EN_US" and body["publicAccess"] == "follow"
    assert body["createTime"].endswith("Z") and body["systemMcpServerInfo"] == {"product": "", "name": ""}


def test_update_changes_only_given_fields_replaces_lists_and_bumps_the_version(
    api, monkeypatch, django_capture_on_commit_callbacks
):
    server_id = create(api, description="before", systemTools=["SearchApis", "CallApi"], instructions="keep me")["id"]
    heard: list[str] = []
    monkeypatch.setattr(events, "server_changed", heard.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = call(
            api, "PATCH", "/apimcpserver", {"id": server_id}, {"description": "after", "systemTools": ["LookupEvents"]}
        )
    assert response.status_code == 200, response.content
    server = McpServer.objects.get(pk=server_id)
    assert (server.description, server.system_tools, server.instructions) == ("after", ["LookupEvents"], "keep me")
    assert server.version == 2 and heard == [server_id]  # announced after commit


def test_the_name_is_immutable(api):
    server_id = create(api)["id"]
    response = call(api, "PATCH", "/apimcpserver", {"id": server_id}, {"name": "other"})
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParam.Name"
    assert "cannot be changed" in response.json()["message"]


def test_delete_removes_the_server(api):
    server_id = create(api)["id"]
    response = call(api, "DELETE", "/apimcpserver", {"id": server_id})
    assert response.status_code == 200 and set(response.json()) == {"requestId"}
    assert not McpServer.objects.filter(pk=server_id).exists()
    again = call(api, "DELETE", "/apimcpserver", {"id": server_id})
    assert (again.status_code, again.json()["code"]) == (404, "NotFound.ApiMcpServer")


def test_more_than_30_apis_are_allowed_with_a_warning(api):
    body = create(api, apis=[{"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["*", "Nothing*"]}])
    assert any("66 APIs" in w for w in body["warnings"])
    assert any("'Nothing*' matches no API" in w for w in body["warnings"])


def test_client_token_replays_the_same_answer_and_refuses_another_body(api):
    first = call(api, "POST", "/apimcpserver", body={**BASE, "clientToken": "tok-1"}).json()
    again = call(api, "POST", "/apimcpserver", body={**BASE, "clientToken": "tok-1"})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["requestId"] != first["requestId"]
    assert McpServer.objects.count() == 1
    other = call(api, "POST", "/apimcpserver", body={**BASE, "description": "x", "clientToken": "tok-1"})
    assert (other.status_code, other.json()["code"]) == (400, "IdempotentParameterMismatch")
    assert McpServer.objects.count() == 1 and IdempotencyRecord.objects.count() == 1


def test_client_token_on_update_and_delete(api):
    server_id = create(api)["id"]
    params = {"id": server_id, "clientToken": "u-1"}
    assert call(api, "PATCH", "/apimcpserver", params, {"description": "a"}).status_code == 200
    assert call(api, "PATCH", "/apimcpserver", params, {"description": "a"}).status_code == 200
    assert McpServer.objects.get(pk=server_id).version == 2  # the replay did not write again
    mismatch = call(api, "PATCH", "/apimcpserver", params, {"description": "b"})
    assert mismatch.json()["code"] == "IdempotentParameterMismatch"
    delete = {"id": server_id, "clientToken": "d-1"}
    assert call(api, "DELETE", "/apimcpserver", delete).status_code == 200
    assert call(api, "DELETE", "/apimcpserver", delete).status_code == 200  # replayed, not 404


@pytest.mark.parametrize("token", ["x" * 65, "tök", "has space"])
def test_bad_client_tokens_are_refused(api, token):
    response = call(api, "POST", "/apimcpserver", body={**BASE, "clientToken": token})
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.ClientToken")
    assert McpServer.objects.count() == 0


def test_list_pages_with_a_signed_next_token(api):
    ids = [create(api, name=f"srv-{i:02d}")["id"] for i in range(5)]
    seen, token, pages = [], None, 0
    while True:
        params = {"maxResults": 2, **({"nextToken": token} if token else {})}
        body = call(api, "GET", "/apimcpservers", params).json()
        pages += 1
        assert body["totalCount"] == 5 and body["maxResults"] == 2
        assert all("apiInfos" not in s and "requiredRAMPolicy" not in s for s in body["apiMcpServers"])
        seen += [s["id"] for s in body["apiMcpServers"]]
        token = body.get("nextToken")
        if not token:
            break
    assert pages == 3 and seen == list(reversed(ids))


def test_list_filters_by_keyword_and_refuses_tampered_or_foreign_tokens(api):
    a = create(api, name="alpha-one")["id"]
    create(api, name="beta-two")
    create(api, name="alpha-three")
    names = [s["name"] for s in call(api, "GET", "/apimcpservers", {"keyword": "alpha"}).json()["apiMcpServers"]]
    assert names == ["alpha-three", "alpha-one"]
    by_id = call(api, "GET", "/apimcpservers", {"keyword": a}).json()["apiMcpServers"]
    assert [s["id"] for s in by_id] == [a]
    token = call(api, "GET", "/apimcpservers", {"maxResults": 1}).json()["nextToken"]
    payload, mac = token.split(".")
    tampered = call(api, "GET", "/apimcpservers", {"maxResults": 1, "nextToken": payload[:-2] + "AA." + mac})
    assert (tampered.status_code, tampered.json()["code"]) == (400, "InvalidParam.NextToken")
    assert call(api, "GET", "/apimcpservers", {"nextToken": "garbage"}).json()["code"] == "InvalidParam.NextToken"
    other_query = call(api, "GET", "/apimcpservers", {"maxResults": 1, "nextToken": token, "keyword": "beta"})
    assert other_query.json()["code"] == "NextTokenParameterMismatch"


@pytest.mark.parametrize("value, status", [(0, 200), (100, 200), (101, 400), (-1, 400), ("many", 400)])
def test_max_results_bounds(api, value, status):
    response = call(api, "GET", "/apimcpservers", {"maxResults": value})
    assert response.status_code == status
    if status == 400:
        assert response.json()["code"] == "InvalidParam.MaxResults"
        assert "maxResults" in response.json()["message"]


def test_system_tools_are_listed_and_paged(api):
    body = call(api, "GET", "/mcpSystemTools").json()
    assert body["totalCount"] == 6 and "nextToken" not in body
    assert {t["name"] for t in body["systemTools"]} == {
        "FetchRamActionDetails",
        "SearchApis",
        "GetApiDefinition",
        "CallApi",
        "GenerateCLICommand",
        "LookupEvents",
    }
    first = call(api, "GET", "/mcpSystemTools", {"maxResults": 5}).json()
    rest = call(api, "GET", "/mcpSystemTools", {"maxResults": 5, "nextToken": first["nextToken"]}).json()
    assert len(first["systemTools"]) == 5 and len(rest["systemTools"]) == 1 and "nextToken" not in rest


def test_user_config_round_trip_bumps_every_server(api, alice):
    server_id = create(api)["id"]
    body = call(api, "GET", "/userconfig/get").json()
    assert body["accountId"] == alice.account_id and body["enablePublicAccess"] is True
    update = {"enablePublicAccess": False, "vpcWhitelists": ["vpc-a", "vpc-b", "vpc-a"]}
    assert call(api, "PATCH", "/userconfig/update", body=update).status_code == 200
    body = call(api, "GET", "/userconfig/get").json()
    assert body["enablePublicAccess"] is False and body["vpcWhitelists"] == ["vpc-a", "vpc-b"]
    assert McpServer.objects.get(pk=server_id).version == 2


def test_quota(api, settings):
    settings.MAX_SERVERS_PER_ACCOUNT = 2
    create(api, name="one")
    create(api, name="two")
    response = call(api, "POST", "/apimcpserver", body={**BASE, "name": "three"})
    assert (response.status_code, response.json()["code"]) == (429, "QuotaExceeded")
    assert McpServer.objects.count() == 2


def test_every_answer_carries_a_request_id(api):
    ok = call(api, "GET", "/mcpSystemTools")
    bad = call(api, "GET", "/apimcpserver", {"id": "nope"})
    for response in (ok, bad):
        assert response.json()["requestId"] == response["x-acs-request-id"]
    assert set(bad.json()) == {"requestId", "code", "message"}


def test_the_openapi_document_is_served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    ops = {op["operationId"] for path in response.json()["paths"].values() for op in path.values()}
    assert {"CreateApiMcpServer", "ListApiMcpServers", "UpdateApiMcpServerUserConfig"} <= ops


def test_unexpected_failures_are_500_without_details_and_logged_with_the_request_id(api, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("servers.api.servers.server_page", broken)
    response = call(api, "GET", "/apimcpservers")
    body = response.json()
    assert (response.status_code, body["code"]) == (500, "InternalServerError")
    assert "hunter2" not in response.content.decode() and "Traceback" not in response.content.decode()
    logged = [r for r in caplog.records if r.name == "servers.api" and body["requestId"] in r.getMessage()]
    assert logged and "hunter2" in logged[0].exc_text


def test_concurrent_creates_with_one_client_token_make_one_server(alice, catalog, transactional_db):
    import threading

    from django.db import connection

    from servers.idempotency import run_idempotent
    from servers.schemas import CreateApiMcpServerBody, parse_body
    from servers.services import server_create

    barrier = threading.Barrier(4)
    answers: list[str] = []

    def attempt():
        try:
            barrier.wait()
            body = run_idempotent(
                account_id=alice.account_id,
                operation="CreateApiMcpServer",
                client_token="same-token",
                payload=BASE,
                work=lambda: {
                    "id": server_create(
                        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE)
                    ).id
                },
            )
            answers.append(body["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 4 and len(set(answers)) == 1
    assert McpServer.objects.count() == 1 and IdempotencyRecord.objects.count() == 1
