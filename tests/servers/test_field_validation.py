"""Server fields: whole-string identifier patterns, control characters, expensive input (HCL, selectors),
and the OpenAPI document declaring the same limits that validation enforces."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from oauth.schemas import HEADER_NAME_RE, REGION_RE
from runtime import routes
from servers.catalog.naming import API_NAME_RE, ARG_NAME_RE, PRODUCT_CODE_RE, VERSION_RE
from servers.errors import ApiError
from servers.models import McpServer
from servers.schemas import CreateApiMcpServerBody, parse_body
from servers.server_validation import NAME_RE, ROLE_NAME_RE
from servers.services import server_create
from terraform.hcl_child import NESTED_TOO_DEEPLY, syntax_error
from terraform.syntax import HclCheckError, checked_syntax_error

RAM = {"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}
HCL = 'variable "name" {\n  type = string\n}\n'


@pytest.fixture
def api(alice: Any, catalog: None) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def send(api: Client, body: dict[str, Any], method: str = "POST", path: str = "/apimcpserver") -> Any:
    return api.generic(method, path, data=json.dumps(body), content_type="application/json")


def refused(api: Client, body: dict[str, Any], code: str, message: str, **kwargs: Any) -> dict[str, Any]:
    before = McpServer.objects.count()
    response = send(api, body, **kwargs)
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, code), payload
    assert message in payload["message"], payload["message"]
    assert "Error" not in payload["message"] and "Traceback" not in payload["message"]
    assert McpServer.objects.count() == before
    return payload


def server(name: str = "ram-tools", **fields: Any) -> dict[str, Any]:
    return {"name": name, "apis": [RAM], **fields}


# A trailing newline is not the end of a name -------------------------------------------------


@pytest.mark.parametrize(
    "pattern, good",
    [
        (NAME_RE, "abc"),
        (ROLE_NAME_RE, "ops.admin"),
        (PRODUCT_CODE_RE, "Ecs"),
        (VERSION_RE, "2014-05-26"),
        (API_NAME_RE, "DescribeInstances"),
        (ARG_NAME_RE, "RegionId"),
        (REGION_RE, "cn-hangzhou"),
        (HEADER_NAME_RE, "X-Api-Key"),
    ],
)
def test_identifier_patterns_match_the_whole_string(pattern: re.Pattern[str], good: str) -> None:
    assert pattern.fullmatch(good)
    for bad in (good + "\n", "\n" + good, good + "\r\n", good + "\x00"):
        assert not pattern.fullmatch(bad)


def test_a_name_with_a_trailing_newline_is_refused_next_to_the_same_name(api: Client) -> None:
    assert send(api, server("abc")).status_code == 200
    refused(api, server("abc\n"), "InvalidParam.Name", "Name must be 3 to 64 characters")
    assert list(McpServer.objects.values_list("name", flat=True)) == ["abc"]


@pytest.mark.parametrize(
    "fields, code, message",
    [
        ({"assumeRoleName": "ops\n", "enableAssumeRole": True}, "InvalidParam.AssumeRoleName", "assumeRoleName"),
        (
            {"terraformTools": [{"name": "vpc\n", "code": HCL, "description": "d"}]},
            "InvalidParam.TerraformTools.Name",
            "TerraformTools.Name: 'vpc\\n' must be",
        ),
        (
            {"apis": [{**RAM, "product": "Ram\n"}]},
            "InvalidParam.Apis.PopCode",
            "Unsupported product code: 'Ram\\n'.",
        ),
        (
            {"apis": [{**RAM, "apiVersion": "2015-05-01\n"}]},
            "InvalidParam.Apis.PopVersion",
            "Unsupported product version: '2015-05-01\\n'",
        ),
        (
            {"additionalApiDescriptions": [{"product": "Ram", "apiVersion": "2015-05-01", "apiName": "GetUser\n"}]},
            "InvalidParam.AdditionalApiDescription.ApiName",
            "API 'GetUser\\n' does not exist",
        ),
    ],
)
def test_trailing_newlines_in_identifiers_are_refused(api: Client, fields: dict[str, Any], code: str, message: str):
    refused(api, server(**fields), code, message)


def test_mcp_paths_with_a_trailing_newline_are_not_endpoints() -> None:
    path = "/accounts/1/custom/abc/id/s1/mcp"
    assert routes.parse(path) is not None
    assert routes.parse(path + "\n") is None
    assert routes.parse("/.well-known/oauth-protected-resource" + path + "\n") is None


# Control characters ---------------------------------------------------------------------------


# NUL never gets this far over HTTP (the JSON reader refuses it first); the services see it from the
# console and the command line, hence the direct calls below.


@pytest.mark.parametrize("entry", ["vpc-a\x01", "vpc\x1b[31m", "10.0.0.0/8\x7f", "vpc\u0085a", "a\nb"])
def test_control_characters_in_vpc_whitelists_are_refused(api: Client, entry: str) -> None:
    refused(api, server(vpcWhitelists=[entry]), "InvalidParam.VpcWhitelists", "without spaces or control characters")
    response = send(api, {"vpcWhitelists": [entry]}, method="PATCH", path="/userconfig/update")
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.VpcWhitelists")


def test_good_whitelist_entries_are_kept(api: Client) -> None:
    assert send(api, server(vpcWhitelists=["vpc-a", "10.0.0.0/8", "fd00::/8"])).status_code == 200
    assert McpServer.objects.get().vpc_whitelists == ["vpc-a", "10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize(
    "fields, code, message",
    [
        ({"apis": [{**RAM, "selectors": ["Get\x01User"]}]}, "InvalidParam.Apis.Selectors", "control characters"),
        ({"prompts": [{"name": "p\n1", "content": "x"}]}, "InvalidParam.Prompts.Name", "control characters"),
        (
            {"prompts": [{"name": "p", "arguments": [{"name": "a\tb"}]}]},
            "InvalidParam.Prompts.Arguments.Name",
            "prompts[0].arguments[0].name",
        ),
        (
            {
                "additionalApiDescriptions": [
                    {
                        "product": "Ram",
                        "apiVersion": "2015-05-01",
                        "apiName": "GetUser",
                        "constParameters": [{"key": "User\x07Name", "value": "x"}],
                    }
                ]
            },
            "InvalidParam.AdditionalApiDescription.ConstParameters.Key",
            "constParameters[0].key",
        ),
        ({"description": "bell\x07"}, "InvalidParam.Description", "control characters other than tab and newline"),
        ({"instructions": "escape\x1b[0m"}, "InvalidParam.Instructions", "control characters"),
        ({"oauthClientId": "client\n"}, "InvalidParam.OauthClientId", "one line"),
    ],
)
def test_control_characters_in_names_and_texts_are_refused(api: Client, fields: dict[str, Any], code: str, message):
    refused(api, server(**fields), code, message)


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"vpcWhitelists": ["vpc-a\x00"]}, "InvalidParam.VpcWhitelists"),
        ({"apis": [{**RAM, "selectors": ["Get\x00"]}]}, "InvalidParam.Apis.Selectors"),
        ({"apis": [{**RAM, "product": "Ram\x00"}]}, "InvalidParam.Apis.PopCode"),
        ({"description": "nul\x00"}, "InvalidParam.Description"),
        (
            {"terraformTools": [{"name": "vpc", "code": HCL + "\x00", "description": "d"}]},
            "InvalidParam.TerraformTools.Code",
        ),
    ],
)
def test_nul_is_refused_by_the_services_too(alice: Any, catalog: None, fields: dict[str, Any], code: str) -> None:
    with pytest.raises(ApiError) as raised:
        server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, server(**fields)))
    assert raised.value.code == code
    assert not McpServer.objects.exists()


def test_text_keeps_tabs_and_newlines(api: Client) -> None:
    assert send(api, server(description="line 1\n\tline 2\r\n", instructions="a\nb")).status_code == 200


# Expensive input: Terraform code --------------------------------------------------------------


def tool(code: str) -> dict[str, Any]:
    return {"terraformTools": [{"name": "vpc", "code": code, "description": "A VPC"}]}


def test_terraform_code_over_the_size_limit_is_refused_before_parsing(api: Client, settings: Any) -> None:
    settings.TERRAFORM_CODE_MAX_BYTES = 1000
    refused(
        api,
        server(**tool(HCL + "#" * 1000)),
        "InvalidParam.TerraformTools.Code",
        "terraformTools[0].code is 1036 bytes; at most 1000 bytes are allowed (TERRAFORM_CODE_MAX_BYTES)",
    )
    assert send(api, server(**tool(HCL))).status_code == 200


def test_the_default_size_limit_is_64_kib(api: Client) -> None:
    code = HCL + "#" * (64 * 1024)
    refused(api, server(**tool(code)), "InvalidParam.TerraformTools.Code", "at most 65536 bytes")


@pytest.mark.parametrize(
    "code",
    [
        "x = " + "(" * 3000 + "1" + ")" * 3000 + "\n",
        "x = " + "[" * 3000 + "]" * 3000 + "\n",
        "x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n",
        "x = " + "1+" * 5000 + "1\n",
    ],
    ids=["parentheses", "lists", "objects", "operators"],
)
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(api: Client, code: str) -> None:
    payload = refused(api, server(**tool(code)), "InvalidParam.TerraformTools.Code", NESTED_TOO_DEEPLY)
    assert "Recursion" not in payload["message"]


def test_syntax_errors_keep_their_line_and_column(api: Client) -> None:
    refused(
        api,
        server(**tool('variable "x" {\n  type = \n}\n')),
        "InvalidParam.TerraformTools.Code",
        "terraformTools[0] line 2, column 10: unexpected end of line",
    )


def test_checking_past_the_time_budget_is_refused(api: Client, settings: Any) -> None:
    settings.TERRAFORM_CHECK_TIMEOUT_SECONDS = 0  # no time at all: the child cannot answer in time
    refused(
        api,
        server(**tool(HCL)),
        "InvalidParam.TerraformTools.Code",
        "could not be checked within 0 s (TERRAFORM_CHECK_TIMEOUT_SECONDS",
    )


def test_a_slow_parse_is_killed_at_the_deadline() -> None:
    slow = "".join(f"a{i} = {i}\n" for i in range(150_000))  # about 15 s of parsing on this machine
    with pytest.raises(HclCheckError) as raised:
        checked_syntax_error(slow, timeout_seconds=0.5)
    assert raised.value.timed_out and "took longer than 0.5 s" in str(raised.value)
    # The next check gets a fresh child and a correct answer.
    assert checked_syntax_error(HCL, timeout_seconds=10) is None
    assert checked_syntax_error("x = \n", timeout_seconds=10) == "line 1, column 5: unexpected end of line"


def test_the_child_answers_like_the_parser_in_process() -> None:
    for code in (HCL, 'variable "x" {\n  type = \n}\n', "x = {", "x = " + "(" * 3000 + "1" + ")" * 3000):
        assert checked_syntax_error(code, timeout_seconds=10) == syntax_error(code)


# Expensive input: selectors and resolved APIs ------------------------------------------------


def test_selectors_per_api_entry_are_capped(api: Client, settings: Any) -> None:
    refused(
        api,
        server(apis=[{**RAM, "selectors": [f"Get{i}" for i in range(20_000)]}]),
        "InvalidParam.Apis.Selectors",
        "apis[0].selectors has 20000 entries; at most 100 are allowed (SERVER_MAX_SELECTORS_PER_API)",
    )
    settings.SERVER_MAX_SELECTORS_PER_API = 2
    refused(api, server(apis=[{**RAM, "selectors": ["a", "b", "c"]}]), "InvalidParam.Apis.Selectors", "at most 2")
    assert send(api, server(apis=[{**RAM, "selectors": ["GetUser", "ListUsers"]}])).status_code == 200


def test_resolved_apis_per_server_are_capped(api: Client, settings: Any) -> None:
    settings.SERVER_MAX_APIS = 6
    sts = {"product": "Sts", "apiVersion": "2015-04-01", "selectors": ["*"]}  # 4 APIs
    refused(
        api,
        server(apis=[sts, {**RAM, "selectors": ["Get*"]}]),  # + 11
        "InvalidParam.Apis",
        "The selectors resolve to more than 6 APIs (by apis[1]); narrow them (SERVER_MAX_APIS)",
    )
    assert send(api, server(apis=[sts, {**RAM, "selectors": ["GetUser*"]}])).status_code == 200  # 4 + 2
    created = McpServer.objects.get()
    response = send(api, {"apis": [{**RAM, "selectors": ["*"]}]}, method="PATCH", path=f"/apimcpserver?id={created.pk}")
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.Apis")


# The OpenAPI document declares the limits ----------------------------------------------------


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def test_the_document_declares_the_limits_validation_enforces(client: Client) -> None:
    document = client.get("/api/openapi.json").json()
    create = schema_of(document, "CreateApiMcpServerBody")["properties"]
    assert create["name"]["pattern"] == f"^{NAME_RE.pattern}$"
    assert (create["name"]["minLength"], create["name"]["maxLength"]) == (3, 64)
    assert create["apis"]["maxItems"] == 100 and create["description"]["maxLength"] == 4096
    assert create["instructions"]["maxLength"] == 32768
    assert create["vpcWhitelists"]["items"]["maxLength"] == 128
    assert "SearchApis" in create["systemTools"]["items"]["enum"]
    assert create["publicAccess"]["enum"] == ["on", "off", "follow"]
    selection = schema_of(document, "ApiSelection")
    assert set(selection["required"]) == {"product", "apiVersion", "selectors"}
    assert selection["properties"]["selectors"]["maxItems"] == 100
    assert selection["properties"]["product"]["pattern"] == f"^{PRODUCT_CODE_RE.pattern}$"
    terraform = schema_of(document, "TerraformTool")
    assert set(terraform["required"]) == {"name", "code", "description"}
    assert terraform["properties"]["code"]["maxLength"] == 64 * 1024
    assert terraform["properties"]["destroyPolicy"]["enum"] == ["NEVER", "ALWAYS", "ON_FAILURE"]
    connection = schema_of(document, "SetConnectionBody")["properties"]
    assert (connection["readTimeout"]["minimum"], connection["readTimeout"]["maximum"]) == (0.1, 600)


def parameters_of(document: dict[str, Any], method: str, path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in document["paths"][path][method]["parameters"]}


def test_the_document_declares_query_parameter_limits(client: Client) -> None:
    """`servers.api.common.query` puts its keywords into ninja's `Query` (through the dict ninja
    hands to pydantic): this fails when a new ninja stops carrying them into the document."""
    document = client.get("/api/openapi.json").json()
    listing = parameters_of(document, "get", "/apimcpservers")
    max_results = listing["maxResults"]["schema"]
    assert (max_results["type"], max_results["minimum"], max_results["maximum"]) == ("integer", 0, 100)
    assert "pattern" not in max_results
    assert (listing["skip"]["schema"]["minimum"], listing["skip"]["schema"]["maximum"]) == (0, 2**31 - 1)
    assert listing["language"]["schema"]["enum"] == ["EN_US", "ZH_CN"]
    assert listing["createTime"]["schema"]["format"] == "date-time"
    assert listing["keyword"]["schema"]["pattern"] == "^[^\\x00]*$"  # no NUL, as in every string
    assert not listing["keyword"]["required"] and "anyOf" not in listing["keyword"]["schema"]  # no null
    network = parameters_of(document, "get", "/network")["id"]
    assert network["required"] and network["schema"]["minLength"] == 1  # absent: Missing.Id, from the operation
    token = parameters_of(document, "delete", "/apimcpserver")["clientToken"]["schema"]
    assert (token["maxLength"], token["pattern"]) == (64, "^[!-~]*$")
    solutions = parameters_of(document, "get", "/getErrorCodeSolutions")
    assert solutions["acceptLanguage"]["schema"]["enum"] == ["zh-CN", "en-US"]


def test_the_document_says_what_each_connection_auth_type_needs(client: Client) -> None:
    document = client.get("/api/openapi.json").json()
    body = schema_of(document, "SetConnectionBody")
    branches = {b["properties"]["authType"]["const"]: b for b in body["oneOf"]}
    assert set(branches) == {"none", "alibaba_ak", "api_key", "bearer", "basic", "oauth2_client_credentials"}
    basic = branches["basic"]
    assert basic["required"] == ["authConfig"]  # a password is optional
    assert basic["properties"]["authConfig"]["required"] == ["username"]
    assert basic["properties"]["authConfig"]["properties"]["tokenUrl"] == {"const": ""}  # another type's setting
    assert branches["bearer"]["properties"]["secrets"]["required"] == ["token"]
    assert "required" not in branches["none"]


@pytest.mark.parametrize(
    "value, valid",
    [("abc", True), ("abc\n", False), ("_x-1", True), ("1abc", False), ("ab", False), ("a" * 65, False)],
)
def test_document_patterns_mean_the_same_as_validation(client: Client, value: str, valid: bool) -> None:
    document = client.get("/api/openapi.json").json()
    pattern = schema_of(document, "CreateApiMcpServerBody")["properties"]["name"]["pattern"]
    # JSON Schema patterns are ECMA-262: `$` is the end of the string. Python's `\Z` is that end.
    assert bool(re.search(pattern.replace("$", r"\Z"), value)) is valid
    assert bool(NAME_RE.fullmatch(value)) is valid
