"""The catalog operations of the management API against the OpenAPIExplorer 2024-11-30 contract:
ListApiDefinitions, GetApiDefinition, GetProductEndpoints, GetErrorCodeSolutions."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from oauth.services import policy_create, user_create
from servers.catalog.services import catalog_import

from .conftest import SPECS

OPERATIONS = ["ListApiDefinitions", "GetApiDefinition", "GetProductEndpoints", "GetErrorCodeSolutions"]
JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "array": list, "object": dict}


@pytest.fixture
def contract() -> dict[str, Any]:
    return json.loads((SPECS / "alibaba" / "openapiexplorer-2024-11-30.json").read_text(encoding="utf-8"))["apis"]


@pytest.fixture
def catalog(db):
    for name in ("alibaba/ecs-2014-05-26.json", "alibaba/openapiexplorer-2024-11-30.json", "openapi/slack-web.json"):
        catalog_import(source=str(SPECS / name))


def get(user, path, **params):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(path + ("?" + urlencode(params) if params else ""))


def served_type(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    return schema


def check_value(theirs: dict[str, Any], value: Any, where: str) -> list[str]:
    kind = theirs.get("type")
    if kind in (None, "any"):
        return []
    if not isinstance(value, JSON_TYPES[kind]) or (kind == "integer" and isinstance(value, bool)):
        return [f"{where}: {type(value).__name__}, contract says {kind}"]
    problems: list[str] = []
    if kind == "array":
        for i, item in enumerate(value):
            problems += check_value(theirs.get("items", {}), item, f"{where}[{i}]")
    if kind == "object":
        for name, sub in (theirs.get("properties") or {}).items():
            if name not in value:
                problems.append(f"{where}.{name}: missing")
            else:
                problems += check_value(sub, value[name], f"{where}.{name}")
    return problems


@pytest.mark.parametrize("operation", OPERATIONS)
def test_method_path_and_parameters_match_the_contract(db, operation, contract):
    api = contract[operation]
    served = Client().get("/api/openapi.json").json()
    op = served["paths"][api["path"]][api["methods"][0]]
    assert op["operationId"] == operation
    mine = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
    for param in api["parameters"]:
        assert param["in"] == "query"
        assert param["name"] in mine, param["name"]
        assert bool(mine[param["name"]].get("required")) == bool(param["schema"].get("required")), param["name"]
        assert served_type(mine[param["name"]]["schema"], served)["type"] == param["schema"]["type"]
    response = served_type(op["responses"]["200"]["content"]["application/json"]["schema"], served)
    assert response["type"] == "object"
    for name, sub in (api["responses"]["200"]["schema"].get("properties") or {}).items():
        assert name in response["properties"], name
        assert served_type(response["properties"][name], served)["type"] == sub["type"]


def test_real_responses_carry_the_contract_fields(alice, catalog, contract):
    answers = {
        "ListApiDefinitions": get(alice, "/api/definitions", product="Ecs", apiVersion="2014-05-26"),
        "GetApiDefinition": get(alice, "/api/definition", product="Ecs", apiVersion="2014-05-26", api="RunInstances"),
        "GetProductEndpoints": get(alice, "/product/endpoints", product="Ecs"),
        "GetErrorCodeSolutions": get(alice, "/getErrorCodeSolutions", errorCode="NotFound.ApiMcpServer"),
    }
    for operation, response in answers.items():
        assert response.status_code == 200, (operation, response.content[:300])
        body = response.json()
        assert body["requestId"] and response["x-acs-request-id"] == body["requestId"]
        assert check_value(contract[operation]["responses"]["200"]["schema"], body, operation) == []

    listed = answers["ListApiDefinitions"].json()
    assert listed["info"] == {"style": "RPC", "product": "Ecs", "version": "2014-05-26", "title": ""}
    assert len(listed["apis"]) == 358 and listed["endpoints"][0]["regionId"]
    one = answers["GetApiDefinition"].json()
    assert one["name"] == "RunInstances" and one["methods"] == ["post", "get"] and one["errorCodes"]
    endpoints = answers["GetProductEndpoints"].json()
    assert endpoints["product"] == "Ecs" and endpoints["versions"] == ["2014-05-26"]
    assert {"regionId": "cn-hangzhou", "endpoint": "ecs.cn-hangzhou.aliyuncs.com"} in endpoints["endpoints"]
    solutions = answers["GetErrorCodeSolutions"].json()["solutions"]
    assert [(s["product"], s["errorCode"], s["errorMessage"]) for s in solutions] == [
        ("OpenAPIExplorer", "NotFound.ApiMcpServer", "Specified MCP server not found.")
    ]
    assert solutions[0]["content"].startswith("# NotFound.ApiMcpServer\n\nSpecified MCP server not found.")
    assert "HTTP status: 404" in solutions[0]["content"]
    assert "Returned by: DeleteApiMcpServer, GetApiMcpServer, UpdateApiMcpServer" in solutions[0]["content"]


def test_error_code_solutions_filter_by_product_message_and_language(alice, catalog):
    code = "InvalidInstanceChargeType.NotFound"
    every = get(alice, "/getErrorCodeSolutions", errorCode=code, product="Ecs", acceptLanguage="zh-CN").json()
    solutions = every["solutions"]
    assert len(solutions) > 1 and {s["errorCode"] for s in solutions} == {code}  # one per documented message
    assert len({s["solutionId"] for s in solutions}) == len(solutions)
    assert all(s["productName"] == "Ecs" for s in solutions)
    assert "## 原因" in solutions[0]["content"] and "返回该错误的接口" in solutions[0]["content"]
    message = solutions[0]["errorMessage"]
    narrowed = get(alice, "/getErrorCodeSolutions", errorCode=code, errorMessage=message.upper()).json()["solutions"]
    assert [s["solutionId"] for s in narrowed] == [solutions[0]["solutionId"]]
    assert get(alice, "/getErrorCodeSolutions", errorCode="NoSuchCode").json()["solutions"] == []
    slack = get(alice, "/product/endpoints", product="Slack").json()
    assert slack["endpoints"] == [] and slack["servers"] == ["https://slack.com/api"]


@pytest.mark.parametrize(
    "path, params, status, code",
    [
        ("/api/definitions", {"product": "Ecs"}, 400, "Missing.PopVersion"),
        ("/api/definitions", {"product": "", "apiVersion": "1"}, 400, "Missing.PopCode"),
        ("/api/definition", {"product": "Ecs", "apiVersion": "2014-05-26", "api": ""}, 400, "Missing.Api"),
        ("/api/definitions", {"product": "Nope", "apiVersion": "1"}, 404, "NotFound.Product"),
        ("/api/definitions", {"product": "Ecs", "apiVersion": "1999-01-01"}, 404, "NotFound.ApiVersion"),
        ("/api/definition", {"product": "Ecs", "apiVersion": "2014-05-26", "api": "Nope"}, 404, "NotFound.Api"),
        ("/product/endpoints", {"product": "Nope"}, 404, "NotFound.Product"),
        ("/getErrorCodeSolutions", {"errorCode": " "}, 400, "InvalidParam.ErrorCode"),
        ("/getErrorCodeSolutions", {"errorCode": "X", "acceptLanguage": "fr-FR"}, 400, "InvalidParam.AcceptLanguage"),
        ("/getErrorCodeSolutions", {"errorCode": "X", "product": "Nope"}, 404, "NotFound.Product"),
    ],
)
def test_errors_have_the_contract_shape(alice, catalog, path, params, status, code):
    response = get(alice, path, **params)
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"requestId", "code", "message"} and body["code"] == code


def test_anonymous_callers_are_refused(catalog):
    response = get(None, "/api/definitions", product="Ecs", apiVersion="2014-05-26")
    assert response.status_code == 401 and response.json()["code"]


def test_the_catalog_is_shared_so_another_account_reads_it_too(charlie, catalog):
    """No 404 for strangers here: products are not owned by an account."""
    assert (
        get(charlie, "/api/definition", product="Ecs", apiVersion="2014-05-26", api="DescribeRegions").status_code
        == 200
    )


def test_the_limited_user_may_read_and_a_user_without_policies_is_refused(bob, account_a, catalog):
    assert get(bob, "/product/endpoints", product="Ecs").status_code == 200  # openapiexplorer:Get* allowed
    nobody = user_create(account=account_a, username="dave", password="dave-password")
    response = get(nobody, "/api/definitions", product="Ecs", apiVersion="2014-05-26")
    assert response.status_code == 403
    assert response.json()["code"] == "Forbidden.RAM"
    assert "openapiexplorer:ListApiDefinitions" in response.json()["message"]
    deny = policy_create(
        account=account_a,
        name="NoEcsCatalog",
        document={
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "openapiexplorer:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "openapiexplorer:*", "Resource": "acs:openapiexplorer::*:product/Ecs"},
            ],
        },
    )
    nobody.policies.add(deny)
    assert get(nobody, "/product/endpoints", product="Ecs").status_code == 403
    assert get(nobody, "/product/endpoints", product="Slack").status_code == 200


def test_the_official_sdk_reads_the_catalog(alice, catalog, live_server_url):
    from alibabacloud_openapiexplorer20241130 import models
    from alibabacloud_openapiexplorer20241130.client import Client as SdkClient
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from alibabacloud_tea_openapi.models import Config

    from oauth.services import access_key_create

    key = access_key_create(user=alice)
    sdk = SdkClient(
        Config(
            access_key_id=key.access_key_id,
            access_key_secret=key.access_key_secret,
            endpoint=live_server_url.removeprefix("http://"),
            protocol="HTTP",
        )
    )
    listed = sdk.list_api_definitions(models.ListApiDefinitionsRequest(product="Ecs", api_version="2014-05-26"))
    assert listed.status_code == 200 and "DescribeInstances" in listed.body["apis"]
    one = sdk.get_api_definition(
        models.GetApiDefinitionRequest(product="Ecs", api_version="2014-05-26", api="DescribeInstances")
    )
    assert one.body["name"] == "DescribeInstances"
    endpoints = sdk.get_product_endpoints(models.GetProductEndpointsRequest(product="Ecs"))
    assert len(endpoints.body["endpoints"]) == 38
    solutions = sdk.get_error_code_solutions(
        models.GetErrorCodeSolutionsRequest(error_code="Missing.Id", product="OpenAPIExplorer", accept_language="en-US")
    )
    assert solutions.body.solutions[0].error_code == "Missing.Id" and solutions.body.request_id
    with pytest.raises(AlibabaCloudException) as exc:
        sdk.get_product_endpoints(models.GetProductEndpointsRequest(product="Nope"))
    assert exc.value.code == "NotFound.Product"
