"""Bad input is refused with a 4xx, the SPEC §3 code, a message naming the field, and no partial write."""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

import httpx
import pytest
from django.test import Client

from servers.models import IdempotencyRecord, McpServer
from servers.schemas import CreateApiMcpServerBody, parse_body
from servers.services import server_create

RAM = {"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}
BASE = {"name": "ram-tools", "apis": [RAM]}
HCL = 'variable "name" {\n  type = string\n}\n'


def call(client, method, path, params=None, body=None, raw=None):
    url = path + ("?" + urlencode(params) if params else "")
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    if data is None:
        return client.generic(method, url)
    return client.generic(method, url, data=data, content_type="application/json")


@pytest.fixture
def api(alice, catalog):
    client = Client()
    client.force_login(alice)
    return client


def rows():
    return McpServer.objects.count(), IdempotencyRecord.objects.count()


def refused(api, body=None, *, status=400, code, message, raw=None, params=None, method="POST"):
    before = rows()
    response = call(api, method, "/apimcpserver", params, body, raw)
    payload = response.json()
    assert (response.status_code, payload["code"]) == (status, code), payload
    assert message in payload["message"], payload["message"]
    assert set(payload) == {"requestId", "code", "message"}
    assert rows() == before
    return payload


@pytest.mark.parametrize(
    "change, code, message",
    [
        ({"enableAssumeRole": "yes"}, "InvalidParam.EnableAssumeRole", "enableAssumeRole must be a boolean"),
        ({"name": 123}, "InvalidParam.Name", "name must be a string"),
        ({"apis": {"product": "Ram"}}, "InvalidParam.Apis", "apis must be an array"),
        ({"apis": [{**RAM, "selectors": "Get*"}]}, "InvalidParam.Apis.Selectors", "apis[0].selectors must be an array"),
        ({"systemTools": [1]}, "InvalidParam.SystemTools", "systemTools[0] must be a string"),
        (
            {"prompts": [{"name": "p", "arguments": [{"name": "a", "required": "true"}]}]},
            "InvalidParam.Prompts.Arguments.Required",
            "prompts[0].arguments[0].required must be a boolean",
        ),
        ({"terraformTools": [{"async": 1}]}, "InvalidParam.TerraformTools.Async", "terraformTools[0].async must be"),
        ({"description": None}, "InvalidParam.Description", "description must be a string"),
    ],
)
def test_wrong_types_name_the_field(api, change, code, message):
    refused(api, {**BASE, **change}, code=code, message=message)


@pytest.mark.parametrize(
    "body, message",
    [
        ({**BASE, "color": "red"}, "Unknown parameter: color."),
        ({**BASE, "apis": [{**RAM, "extra": 1}]}, "Unknown parameter: apis[0].extra."),
        ({**BASE, "terraformTools": [{"async_": True}]}, "Unknown parameter: terraformTools[0].async_."),
    ],
)
def test_unknown_fields_are_refused(api, body, message):
    refused(api, body, code="InvalidParam.UnknownField", message=message)


def test_malformed_json_and_non_objects(api):
    refused(api, raw='{"name": "x",', code="InvalidParam.Body", message="not valid JSON: Expecting")
    refused(api, raw='{"name": "x",', code="InvalidParam.Body", message="line 1 column 14")
    refused(api, raw="[1, 2]", code="InvalidParam.Body", message="must be a JSON object, not list")
    refused(api, raw=b"\xff\xfe", code="InvalidParam.Body", message="not UTF-8")
    refused(api, raw="", code="Missing.Body", message="request body is mandatory")


def test_oversized_bodies_are_refused_before_parsing(api, settings):
    settings.MAX_API_BODY_BYTES = 1000
    refused(
        api, {**BASE, "description": "x" * 2000}, code="InvalidParam.BodyTooLarge", message="larger than 1000 bytes"
    )


@pytest.mark.parametrize(
    "name, code",
    [
        ("", "Missing.Name"),
        ("ab", "InvalidParam.Name"),
        ("1abc", "InvalidParam.Name"),
        ("Upper", "InvalidParam.Name"),
        ("has space", "InvalidParam.Name"),
        ("x" * 65, "InvalidParam.Name"),
        ("dots.not.ok", "InvalidParam.Name"),
    ],
)
def test_bad_names(api, name, code):
    refused(api, {**BASE, "name": name}, code=code, message="ame")


def test_good_name_edges_are_accepted(api):
    for name in ("abc", "_x-1", "-lead", "a" * 64):
        assert call(api, "POST", "/apimcpserver", body={**BASE, "name": name}).status_code == 200


@pytest.mark.parametrize(
    "change, code, message",
    [
        ({"apis": None}, "InvalidParam.Apis", "apis must be an array"),
        ({"apis": []}, "Missing.Apis", "Apis is mandatory"),
        ({"apis": [{"apiVersion": "2015-05-01", "selectors": ["*"]}]}, "Missing.Apis.PopCode", "apis[0].product"),
        ({"apis": [{**RAM, "product": ""}]}, "Missing.Apis.PopCode", "apis[0].product"),
        ({"apis": [{**RAM, "apiVersion": ""}]}, "Missing.Apis.PopVersion", "apis[0].apiVersion"),
        ({"apis": [{**RAM, "selectors": []}]}, "Missing.Apis.Selectors", "apis[0].selectors"),
        ({"apis": [{**RAM, "product": "Nope"}]}, "InvalidParam.Apis.PopCode", "Unsupported product code: Nope."),
        (
            {"apis": [{**RAM, "apiVersion": "1999-01-01"}]},
            "InvalidParam.Apis.PopVersion",
            "Unsupported product version: 1999-01-01 of product code: Ram.",
        ),
        ({"apis": [RAM, RAM]}, "InvalidParam.Apis", "apis[1] repeats Ram 2015-05-01"),
        ({"language": "FR_FR"}, "InvalidParam.Language", "Unsupported language: FR_FR."),
        ({"publicAccess": "maybe"}, "InvalidParam.PublicAccess", "Unsupported publicAccess: maybe"),
        (
            {"systemTools": ["SearchApis", "Teleport"]},
            "InvalidParam.SystemTools",
            "System tool Teleport is not supported.",
        ),
        (
            {"additionalApiDescriptions": [{"product": "Nope", "apiVersion": "1", "apiName": "X"}]},
            "InvalidParam.AdditionalApiDescription.PopCode",
            "Unsupported product code: Nope.",
        ),
        (
            {"additionalApiDescriptions": [{"product": "Ram", "apiVersion": "1", "apiName": "GetUser"}]},
            "InvalidParam.AdditionalApiDescription.PopVersion",
            "Unsupported product version: 1 of product code: Ram.",
        ),
        (
            {"additionalApiDescriptions": [{"product": "Ram", "apiVersion": "2015-05-01", "apiName": "Nope"}]},
            "InvalidParam.AdditionalApiDescription.ApiName",
            "API Nope does not exist in Ram 2015-05-01",
        ),
        (
            {
                "additionalApiDescriptions": [
                    {
                        "product": "Sts",
                        "apiVersion": "2015-04-01",
                        "apiName": "AssumeRole",
                        "apiOverrideJson": json.dumps({"parameters": [{"name": "RoleArn"}]}),
                    }
                ]
            },
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "removes the required parameter RoleSessionName",
        ),
        (
            {
                "additionalApiDescriptions": [
                    {
                        "product": "Ram",
                        "apiVersion": "2015-05-01",
                        "apiName": "GetUser",
                        "apiOverrideJson": '{"path": 1}',
                    }
                ]
            },
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "may only override summary and parameters, not path",
        ),
        (
            {"prompts": [{"name": "p", "content": "Hi {{who}}", "arguments": [{"name": "whom"}]}]},
            "InvalidParam.Prompts.Content",
            "prompts[0].content uses {{who}}, which is not declared",
        ),
        ({"prompts": [{"name": "p"}, {"name": "p"}]}, "InvalidParam.Prompts.Name", "is used by another prompt"),
        ({"terraformTools": [{"code": HCL, "description": "d"}]}, "Missing.TerraformTools.Name", "terraformTools[0]"),
        ({"terraformTools": [{"name": "vpc", "description": "d"}]}, "Missing.TerraformTools.Code", "Code is mandatory"),
        ({"terraformTools": [{"name": "vpc", "code": HCL}]}, "Missing.TerraformTools.Description", "Description"),
        (
            {"terraformTools": [{"name": "Bad Name", "code": HCL, "description": "d"}]},
            "InvalidParam.TerraformTools.Name",
            "TerraformTools.Name: Bad Name must be 3 to 64",
        ),
        (
            {"terraformTools": [{"name": "vpc", "code": 'variable "x" {\n  default = \n}\n', "description": "d"}]},
            "InvalidParam.TerraformTools.Code",
            "terraformTools[0] line 2, column 13: unexpected end of line",
        ),
        (
            {"terraformTools": [{"name": "vpc", "code": HCL, "description": "d", "destroyPolicy": "SOMETIMES"}]},
            "InvalidParam.TerraformTools.DestroyPolicy",
            "NEVER, ALWAYS, ON_FAILURE",
        ),
        ({"enableAssumeRole": True}, "Missing.AssumeRoleName", "assumeRoleName is mandatory"),
        ({"assumeRoleExtraPolicy": '{"Version": "2"}'}, "InvalidParam.AssumeRoleExtraPolicy", "Version"),
        ({"oauthClientId": "no-such-client"}, "InvalidParam.OauthClientId", "no-such-client does not exist"),
        ({"vpcWhitelists": ["vpc a"]}, "InvalidParam.VpcWhitelists", "without spaces"),
    ],
)
def test_meaning_is_checked_with_the_spec_codes(api, change, code, message):
    refused(api, {**BASE, **change}, code=code, message=message)


def test_duplicate_terraform_tool_names_conflict(api):
    tool = {"name": "vpc", "code": HCL, "description": "d"}
    refused(api, {**BASE, "terraformTools": [tool, tool]}, status=409, code="Exists.TerraformTools.Name", message="vpc")


def test_duplicate_server_names_conflict(api):
    assert call(api, "POST", "/apimcpserver", body=BASE).status_code == 200
    refused(api, BASE, status=409, code="Exists.Name", message="ram-tools")


def test_missing_or_empty_id(api):
    for params in (None, {"id": ""}):
        for method in ("GET", "DELETE"):
            refused(api, None, params=params, method=method, code="Missing.Id", message="d is mandatory")


def test_a_refused_update_changes_nothing(api, alice):
    server = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, {**BASE, "description": "kept"})
    )
    before = McpServer.objects.filter(pk=server.pk).values().get()
    for body in (
        {"description": "new", "systemTools": ["Nope"]},
        {"description": "new", "apis": []},
        {"description": "new", "terraformTools": [{"name": "vpc", "code": "{{{", "description": "d"}]},
        {"description": "new", "bogus": True},
    ):
        response = call(api, "PATCH", "/apimcpserver", {"id": server.pk}, body)
        assert response.status_code == 400, response.content
    assert McpServer.objects.filter(pk=server.pk).values().get() == before


# Over real HTTP --------------------------------------------------------------------------------


def test_duplicate_names_under_concurrency_leave_exactly_one_server(alice, catalog, signed_client):
    clients = [signed_client(alice) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(client):
        barrier.wait()
        response = client.request("POST", "/apimcpserver", json_body=BASE, action="CreateApiMcpServer")
        with lock:
            results.append(response)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [409] * 7, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"Exists.Name"}
    assert McpServer.objects.filter(account=alice.account, name="ram-tools").count() == 1


def test_concurrent_service_calls_rely_on_the_unique_constraint(alice, catalog, transactional_db):
    from django.db import connection

    from servers.errors import ApiError

    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt():
        try:
            barrier.wait()
            server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))
            outcomes.append("created")
        except ApiError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["Exists.Name"] * 3 + ["created"]
    assert McpServer.objects.count() == 1


def test_a_body_over_the_limit_is_refused_over_http(alice, catalog, signed_client, settings):
    client = signed_client(alice)
    big = {**BASE, "description": "x" * (settings.MAX_API_BODY_BYTES + 10)}
    response = client.request("POST", "/apimcpserver", json_body=big)
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.BodyTooLarge")
    assert McpServer.objects.count() == 0
