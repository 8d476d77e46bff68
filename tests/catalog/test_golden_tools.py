"""Specific tools, field by field: naming, descriptions in both languages, overrides, deletions,
constants, region and assume-role parameters, output schemas, annotations and bindings."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from servers.compiler import compile_server


def one_tool(imported, name, api, language="EN_US", **extra):
    result = imported(name)
    description = {"product": result.product, "apiVersion": result.version, "apiName": api, **extra}
    server = {
        "id": "golden",
        "language": language,
        "enableAssumeRole": extra.pop("assume", False),
        "assumeRoleName": "ops",
        "apis": [{"product": result.product, "apiVersion": result.version, "selectors": [api]}],
        "additionalApiDescriptions": [description],
    }
    compiled = compile_server(server, {(result.product, result.version): result.document})
    assert len(compiled.tools) == 1, compiled.warnings
    tool = compiled.tools[0]
    return tool, compiled.bindings[tool["name"]], compiled


# Ecs DescribeInstances (RPC) -------------------------------------------------------------------

ECS = "alibaba/ecs-2014-05-26.json"


def test_ecs_describe_instances_plain(imported):
    tool, binding, compiled = one_tool(imported, ECS, "DescribeInstances")
    assert tool["name"] == "Ecs-20140526-DescribeInstances"
    assert tool["description"].startswith("Queries Elastic Compute Service (ECS) instances by various filter")
    assert "- Set x_mcp_region_id to the region to call; it selects the endpoint." in tool["description"]
    schema = tool["inputSchema"]
    assert schema["required"] == ["RegionId"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["RegionId"]["description"].startswith("The region ID of the instance.")
    assert schema["properties"]["RegionId"]["examples"] == ["cn-hangzhou"]
    # Alibaba numbers written as text become numbers; `required: true` never leaks into a property.
    assert schema["properties"]["PageSize"] == {
        "description": schema["properties"]["PageSize"]["description"],
        "type": "integer",
        "format": "int32",
        "maximum": 100,
        "minimum": 1,
        "examples": [10],
    }
    region = schema["properties"]["x_mcp_region_id"]
    assert region["type"] == "string"
    assert "cn-hangzhou" in region["description"] and "ap-southeast-1" in region["description"]
    assert "x_assume_account_id" not in schema["properties"]
    assert "outputSchema" not in tool
    assert tool["annotations"] == {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True}
    assert binding.style == "RPC" and binding.action == "ecs:DescribeInstances" and binding.regional
    assert binding.endpoints["cn-hangzhou"] == "ecs.cn-hangzhou.aliyuncs.com"
    assert json.loads(compiled.required_ram_policy) == {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["ecs:DescribeInstances"], "Resource": "*"}],
    }
    assert compiled.api_infos == ({"product": "Ecs", "apiVersion": "2014-05-26", "apiName": "DescribeInstances"},)
    assert json.loads(compiled.tools_json) == {"tools": [tool]}


def test_ecs_describe_instances_customised(imported):
    override = {
        "summary": "List the ECS instances of a region.",
        "parameters": [
            {"name": "RegionId", "schema": {"description": "Region to list."}},
            {"name": "InstanceIds", "description": "JSON array of instance IDs.", "example": '["i-1"]'},
            {"name": "PageSize"},
            {"name": "PageNumber"},
        ],
    }
    tool, binding, compiled = one_tool(
        imported,
        ECS,
        "DescribeInstances",
        apiOverrideJson=json.dumps(override),
        constParameters=[{"key": "PageSize", "value": 100}],
        enableOutputSchema=True,
        assume=True,
    )
    schema = tool["inputSchema"]
    assert tool["description"].startswith("List the ECS instances of a region.\n\n")
    # Listed parameters stay (with overridden texts); unlisted optional ones are deleted; constants vanish.
    assert set(schema["properties"]) == {
        "RegionId",
        "InstanceIds",
        "PageNumber",
        "x_mcp_region_id",
        "x_assume_account_id",
    }
    assert schema["properties"]["RegionId"]["description"] == "Region to list."
    assert schema["properties"]["InstanceIds"]["examples"] == ['["i-1"]']
    assert schema["required"] == ["RegionId"]
    assert "- Fixed by the server (not arguments): PageSize." in tool["description"]
    assert "- Set x_assume_account_id to act in another account (as its role ops)." in tool["description"]
    assert schema["properties"]["x_assume_account_id"]["pattern"] == "^[0-9]+$"
    assert binding.constants == {"PageSize": 100}
    assert "VpcId" not in binding.arguments and "PageSize" in binding.arguments
    assert binding.assume_role and binding.assume_role_name == "ops"
    output = tool["outputSchema"]
    assert output["type"] == "object" and "Instances" in output["properties"] and not binding.output_wrapped
    assert Draft202012Validator(output).is_valid({"RequestId": "x", "TotalCount": 1, "Instances": {"Instance": []}})
    assert compiled.warnings == ()


def test_ecs_in_chinese(imported):
    tool, _, _ = one_tool(
        imported,
        ECS,
        "DescribeInstances",
        language="ZH_CN",
        constParameters=[{"key": "RegionId", "value": "cn-hangzhou"}],
    )
    assert "说明：" in tool["description"]
    assert "- 通过 x_mcp_region_id 指定要调用的地域，它决定请求发往的服务地址。" in tool["description"]
    assert "- 以下参数由服务端固定，无需传入：RegionId。" in tool["description"]
    assert tool["inputSchema"]["properties"]["x_mcp_region_id"]["description"].startswith("地域 ID")
    assert "RegionId" not in tool["inputSchema"]["properties"]
    assert "required" not in tool["inputSchema"]  # the only required parameter is a constant


def test_deleting_a_required_parameter_is_not_honoured_at_compile_time(imported):
    override = json.dumps({"parameters": [{"name": "VpcId"}]})
    tool, _, compiled = one_tool(imported, ECS, "DescribeInstances", apiOverrideJson=override)
    assert "RegionId" in tool["inputSchema"]["required"]
    assert any("required parameter RegionId cannot be deleted" in w for w in compiled.warnings)


# CS CreateCluster (ROA, JSON body) ---------------------------------------------------------------

CS = "alibaba/cs-2015-12-15.json"


def test_cs_create_cluster_body(imported):
    override = {
        "parameters": [
            {
                "name": "body",
                "schema": {
                    "description": "Cluster settings.",
                    "properties": {
                        "name": {"description": "Cluster name (1-63 characters)."},
                        "cluster_type": {},
                        "kubernetes_version": {},
                        "tags": {},
                        "maintenance_window": {},
                    },
                },
            }
        ]
    }
    tool, binding, _ = one_tool(
        imported,
        CS,
        "CreateCluster",
        apiOverrideJson=json.dumps(override),
        constParameters=[{"key": "body.region_id", "value": "cn-beijing"}],
        enableOutputSchema=True,
    )
    assert tool["name"] == "CS-20151215-CreateCluster"
    schema = tool["inputSchema"]
    assert schema["required"] == ["body"]
    body = schema["properties"]["body"]
    assert body["description"] == "Cluster settings."
    # region_id is a constant, the other listed fields stay, unlisted optional fields are deleted.
    assert list(body["properties"]) == ["name", "cluster_type", "kubernetes_version", "tags", "maintenance_window"]
    assert body["required"] == ["name"]
    assert body["properties"]["name"]["description"] == "Cluster name (1-63 characters)."
    assert body["properties"]["name"]["examples"] == ["cluster-demo"]
    assert body["properties"]["tags"]["items"]["$ref"] == "#/$defs/tag"
    assert body["properties"]["maintenance_window"]["$ref"] == "#/$defs/maintenance_window"
    assert set(schema["$defs"]) == {"tag", "maintenance_window"}
    assert binding.constants == {"body.region_id": "cn-beijing"}
    assert binding.style == "ROA" and binding.api["path"] == "/clusters" and binding.api["methods"] == ["post"]
    assert tool["annotations"] == {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False}
    assert set(tool["outputSchema"]["properties"]) >= {"cluster_id", "request_id", "task_id"}
    Draft202012Validator.check_schema(schema)
    assert Draft202012Validator(schema).is_valid(
        {"body": {"name": "c1", "tags": [{"key": "k", "value": "v"}], "maintenance_window": {"enable": True}}}
    )
    assert not Draft202012Validator(schema).is_valid({"body": {"name": "c1", "region_id": "cn-hangzhou"}})


def test_cs_array_body_output_is_wrapped(imported):
    result = imported(CS)
    array_outputs = [
        name
        for name, api in result.document["apis"].items()
        if (api.get("responses", {}).get("200", {}).get("schema") or {}).get("type") == "array"
    ]
    assert array_outputs
    tool, binding, _ = one_tool(imported, CS, array_outputs[0], enableOutputSchema=True)
    output = tool["outputSchema"]
    assert output["type"] == "object" and output["required"] == ["result"]
    assert output["properties"]["result"]["type"] == "array"
    assert binding.output_wrapped


# GitHub (OpenAPI 3.0): path + query + body ----------------------------------------------------

GITHUB = "openapi/github.json"


def test_github_upload_release_asset(imported):
    tool, binding, compiled = one_tool(
        imported,
        GITHUB,
        "repos_upload-release-asset",
        enableOutputSchema=True,
        constParameters=[{"key": "owner", "value": "octo-org"}],
        assume=True,
    )
    assert tool["name"] == "GitHub-0.0.5-repos_upload-release-asset"
    schema = tool["inputSchema"]
    assert list(schema["properties"]) == ["repo", "release_id", "name", "label", "body", "x_assume_account_id"]
    assert schema["required"] == ["repo", "release_id"]
    assert schema["properties"]["body"] == {"type": "string", "description": "The raw file data"}
    assert "x_mcp_region_id" not in schema["properties"]  # OpenAPI products have base URLs, not regions
    params = {p["name"]: p for p in binding.api["parameters"]}
    assert params["release_id"]["in"] == "path" and params["name"]["in"] == "query"
    assert params["name"]["x-style"] == "form" and params["name"]["x-explode"] is True
    assert params["body"]["in"] == "body" and params["body"]["x-mediaType"] == "*/*"
    assert binding.api["x-servers"] == ["https://uploads.github.com"]
    assert binding.servers == ("https://api.github.com",)
    assert binding.constants == {"owner": "octo-org"}
    assert binding.style == "OpenAPI" and binding.action == "github:repos_upload-release-asset"
    assert tool["annotations"] == {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False}
    output = tool["outputSchema"]  # 201 → a $ref to an object component
    assert output["type"] == "object" and output["$ref"] == "#/$defs/release-asset"
    assert "release-asset" in output["$defs"] and "simple-user" in output["$defs"]
    assert json.loads(compiled.required_ram_policy)["Statement"][0]["Action"] == ["github:repos_upload-release-asset"]


def test_github_json_body_keeps_nullable_and_one_of(imported):
    tool, binding, _ = one_tool(imported, GITHUB, "issues_create", language="ZH_CN")
    body = tool["inputSchema"]["properties"]["body"]
    assert body["required"] == ["title"]
    assert body["properties"]["assignee"]["type"] == ["string", "null"]
    assert len(body["properties"]["labels"]["items"]["oneOf"]) == 2
    assert tool["inputSchema"]["required"] == ["owner", "repo"]  # the body is optional in the description
    assert binding.api["parameters"][-1]["x-mediaType"] == "application/json"
    assert "说明" not in tool["description"]  # nothing to add: no region, no constants


# Slack (Swagger 2.0, form) ---------------------------------------------------------------------

SLACK = "openapi/slack-web.json"


def test_slack_post_message_form_operation(imported):
    tool, binding, _ = one_tool(
        imported,
        SLACK,
        "chat_postMessage",
        language="ZH_CN",
        enableOutputSchema=True,
        apiOverrideJson=json.dumps({"summary": "发送一条消息"}),
    )
    assert tool["name"] == "Slack-1.7.0-chat_postMessage"
    assert tool["description"] == "发送一条消息\n\nSends a message to a channel."
    schema = tool["inputSchema"]
    assert schema["required"] == ["token", "channel"]
    assert schema["properties"]["link_names"] == {
        "type": "boolean",
        "description": "Find and link channel names and usernames.",
    }
    form = [p for p in binding.api["parameters"] if p["in"] == "formData"]
    assert form and {p["x-mediaType"] for p in form} == {"application/x-www-form-urlencoded"}
    assert [p["in"] for p in binding.api["parameters"] if p["name"] == "token"] == ["header"]
    output = tool["outputSchema"]
    assert output["additionalProperties"] is False
    assert output["properties"]["ok"] == {"$ref": "#/$defs/defs_ok_true"}
    assert {"defs_ok_true", "objs_message", "defs_channel"} <= set(output["$defs"])
    assert binding.security_schemes["slackAuth"]["type"] == "oauth2"


def test_slack_annotations_follow_the_http_method(imported):
    tool, _, _ = one_tool(imported, SLACK, "conversations_list")
    assert tool["annotations"]["readOnlyHint"] is True


# Names ------------------------------------------------------------------------------------------


def test_colliding_tool_names_are_resolved_whatever_the_server_order(imported):
    from servers.compiler.server import tool_names

    refs = [("A", "1-0", "Get"), ("A", "10", "Get"), ("A", "1.0", "Get")]
    names = tool_names(refs)
    assert names == tool_names(list(reversed(refs)))
    assert sorted(names.values()) == ["A-1.0-Get", "A-10-Get", "A-10-Get_2"]
    assert names[("A", "1-0", "Get")] == "A-10-Get"


def test_long_tool_names_are_cut_to_128_characters_stably(imported):
    from servers.compiler import tool_name_candidate

    name = tool_name_candidate("Product", "2024-01-01", "x" * 200)
    assert len(name) == 128 and name == tool_name_candidate("Product", "2024-01-01", "x" * 200)
    assert name != tool_name_candidate("Product", "2024-01-01", "x" * 199)
    assert tool_name_candidate("My Product", "v1 beta", "get/thing") == "My_Product-v1_beta-get_thing"


@pytest.mark.parametrize(
    "selectors, pattern",
    [
        (["DescribeInstances"], r"DescribeInstances"),
        (["describeinstances"], r"describeinstances"),
        (["DescribeInstance?"], r"DescribeInstance."),
        (["Describe*"], r"Describe.*"),
        (["*Instances", "DescribeInstances"], r".*Instances"),
    ],
)
def test_selectors_are_case_sensitive_globs(imported, selectors, pattern):
    result = imported(ECS)
    expected = sorted(n for n in result.document["apis"] if re.fullmatch(pattern, n))
    server = {"apis": [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": selectors}]}
    compiled = compile_server(server, {("Ecs", "2014-05-26"): result.document})
    assert [info["apiName"] for info in compiled.api_infos] == expected
    assert any("more than 30" in w for w in compiled.warnings) == (len(expected) > 30)


def test_unknown_products_and_empty_selectors_are_warnings_not_errors(imported):
    server = {
        "apis": [
            {"product": "Nope", "apiVersion": "1", "selectors": ["*"]},
            {"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["Nothing*"]},
        ],
        "additionalApiDescriptions": [{"product": "Ecs", "apiVersion": "2014-05-26", "apiName": "RunInstances"}],
    }
    compiled = compile_server(server, {("Ecs", "2014-05-26"): imported(ECS).document})
    assert compiled.tools == ()
    assert json.loads(compiled.tools_json) == {"tools": []}
    assert json.loads(compiled.required_ram_policy) == {"Version": "1", "Statement": []}
    assert len(compiled.warnings) == 3
