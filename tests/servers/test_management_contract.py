"""The served API matches the OpenAPIExplorer 2024-11-30 contract (specs/alibaba/openapiexplorer-2024-11-30.json).

For every operation implemented here: same method and path, every request parameter and every
response field with the same name and type — checked against the served OpenAPI document and
against real responses.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

OPERATIONS = [
    "CreateApiMcpServer",
    "UpdateApiMcpServer",
    "GetApiMcpServer",
    "DeleteApiMcpServer",
    "ListApiMcpServers",
    "ListApiMcpServerSystemTools",
    "GetApiMcpServerUserConfig",
    "UpdateApiMcpServerUserConfig",
    "GenerateCLICommand",
]
JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "array": list, "object": dict}


@pytest.fixture
def contract_apis(specs_dir) -> dict[str, Any]:
    return json.loads((specs_dir / "alibaba" / "openapiexplorer-2024-11-30.json").read_text())["apis"]


@pytest.fixture
def served(db) -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref / single allOf and drop the `null` branch of optional fields."""
    while True:
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        elif "anyOf" in schema:
            branches = [s for s in schema["anyOf"] if s.get("type") != "null"]
            assert len(branches) == 1, schema
            schema = branches[0]
        else:
            return schema


def compare(theirs: dict[str, Any], ours: dict[str, Any], doc: dict[str, Any], where: str) -> list[str]:
    """Every field of the contract schema `theirs` exists in our served schema with the same type."""
    problems: list[str] = []
    ours = resolve(ours, doc)
    kind = theirs.get("type")
    if kind == "any":
        return problems
    if ours.get("type") != kind:
        return [f"{where}: type {ours.get('type')!r}, contract says {kind!r}"]
    if kind == "array":
        problems += compare(theirs.get("items", {}), ours.get("items", {}), doc, where + "[]")
    if kind == "object":
        mine = ours.get("properties", {})
        for name, sub in (theirs.get("properties") or {}).items():
            if name not in mine:
                problems.append(f"{where}.{name}: missing")
                continue
            if sub.get("required") is True and name not in ours.get("required", []):
                problems.append(f"{where}.{name}: required in the contract, optional here")
            problems += compare(sub, mine[name], doc, f"{where}.{name}")
    return problems


@pytest.mark.parametrize("operation", OPERATIONS)
def test_method_path_parameters_and_response_fields_match(operation, contract_apis, served):
    api = contract_apis[operation]
    method, path = api["methods"][0], api["path"]
    assert path in served["paths"], f"{path} is not served"
    op = served["paths"][path].get(method)
    assert op is not None, f"{method.upper()} {path} is not served"
    assert op["operationId"] == operation
    problems: list[str] = []
    ours_query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    for param in api["parameters"]:
        if param["in"] == "query":
            mine = ours_query.get(param["name"])
            if mine is None:
                problems.append(f"query {param['name']}: missing")
                continue
            if param["schema"].get("required") is True and not mine.get("required"):
                problems.append(f"query {param['name']}: required in the contract, optional here")
            problems += compare(param["schema"], mine["schema"], served, f"query {param['name']}")
        elif param["in"] == "body":
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is None:
                problems.append("request body: missing")
                continue
            problems += compare(param["schema"], body, served, "body")
        elif param["in"] == "formData":
            form = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
            mine = form.get("schema", {}).get("properties", {}).get(param["name"])
            if mine is None:
                problems.append(f"formData {param['name']}: missing")
                continue
            if param["schema"].get("required") is True and param["name"] not in form["schema"].get("required", []):
                problems.append(f"formData {param['name']}: required in the contract, optional here")
            # On the wire a `json`-style field is one string holding the JSON document.
            wire = {"type": "string"} if param.get("style") == "json" else param["schema"]
            problems += compare(wire, mine, served, f"formData {param['name']}")
        else:
            problems.append(f"{param['in']} parameter {param['name']}: not handled by this test")
    response = op["responses"]["200"]["content"]["application/json"]["schema"]
    problems += compare(api["responses"]["200"]["schema"], response, served, "response")
    assert problems == []


# Real responses ------------------------------------------------------------------------------


def check_value(theirs: dict[str, Any], value: Any, where: str) -> list[str]:
    kind = theirs.get("type")
    if kind == "any":
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


FULL = {
    "name": "contract-full",
    "description": "every field set",
    "language": "ZH_CN",
    "apis": [{"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}],
    "additionalApiDescriptions": [
        {
            "product": "Ram",
            "apiVersion": "2015-05-01",
            "apiName": "GetUser",
            "apiOverrideJson": '{"summary": "Read a user"}',
            "executeCliCommand": True,
            "enableOutputSchema": True,
            "constParameters": [{"key": "UserName", "value": "alice"}],
        }
    ],
    "prompts": [
        {
            "name": "p",
            "description": "d",
            "content": "{{a}}",
            "arguments": [{"name": "a", "description": "x", "required": True}],
        }
    ],
    "systemTools": ["FetchRamActionDetails"],
    "instructions": "be careful",
    "enableAssumeRole": True,
    "assumeRoleName": "ops",
    "assumeRoleExtraPolicy": '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:Get*"}]}',
    "publicAccess": "on",
    "enableCustomVpcWhitelist": True,
    "terraformTools": [
        {"name": "tf-vpc", "description": "d", "code": 'variable "x" {}\n', "async": True, "destroyPolicy": "ALWAYS"}
    ],
    "vpcWhitelists": ["vpc-1"],
    "clientToken": "contract-1",
}


def test_real_responses_carry_every_contract_field_with_its_type(alice, catalog, contract_apis):
    client = Client()
    client.force_login(alice)

    def call(method, path, params=None, body=None):
        url = path + ("?" + urlencode(params) if params else "")
        kwargs = {} if body is None else {"data": json.dumps(body), "content_type": "application/json"}
        response = client.generic(method, url, **kwargs)
        assert response.status_code == 200, response.content
        return response.json()

    answers = {"CreateApiMcpServer": call("POST", "/apimcpserver", body=FULL)}
    server_id = answers["CreateApiMcpServer"]["id"]
    answers["UpdateApiMcpServer"] = call("PATCH", "/apimcpserver", {"id": server_id}, {"description": "changed"})
    answers["GetApiMcpServer"] = call("GET", "/apimcpserver", {"id": server_id})
    call("POST", "/apimcpserver", body={**FULL, "name": "contract-two", "clientToken": "contract-2"})
    answers["ListApiMcpServers"] = call("GET", "/apimcpservers", {"maxResults": 1})
    answers["ListApiMcpServerSystemTools"] = call("GET", "/mcpSystemTools", {"maxResults": 2})
    answers["GetApiMcpServerUserConfig"] = call("GET", "/userconfig/get")
    answers["UpdateApiMcpServerUserConfig"] = call("PATCH", "/userconfig/update", body={"vpcWhitelists": ["vpc-2"]})
    answers["DeleteApiMcpServer"] = call("DELETE", "/apimcpserver", {"id": server_id, "clientToken": "del-1"})
    cli = client.post("/api/cli/makeCode", {"product": "Ram", "apiVersion": "2015-05-01", "api": "GetUser"})
    assert cli.status_code == 200, cli.content
    answers["GenerateCLICommand"] = cli.json()
    problems: list[str] = []
    for operation, body in answers.items():
        problems += check_value(contract_apis[operation]["responses"]["200"]["schema"], body, operation)
    assert problems == []
    got = answers["GetApiMcpServer"]
    sent = {k: v for k, v in FULL.items() if k != "clientToken"}
    assert {k: got[k] for k in sent} == {**sent, "description": "changed"}
