"""Every reference description imports, one API per operation, into the normalised shape."""

from __future__ import annotations

import re

import pytest

from servers.catalog import detect_format

from .conftest import SPEC_FILES, SPECS, count_operations, readme_counts

LOCATIONS = {"query", "formData", "path", "body", "header", "host", "cookie"}


def test_the_reference_set_is_complete():
    assert len(SPEC_FILES) == 13
    assert {"openapi/github.json", "openapi/netlify.yml", "alibaba/ecs-2014-05-26.json"} <= set(SPEC_FILES)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_each_description_imports_one_api_per_operation(name, imported):
    result = imported(name)  # raises CatalogImportError when it cannot be imported
    expected = count_operations(SPECS / name)
    assert result.api_count == expected
    stated = readme_counts().get(name)
    if stated is not None:
        assert expected == stated


def test_the_readme_counts_are_the_ones_checked():
    assert readme_counts() == {
        "openapi/github.json": 623,
        "openapi/openai.json": 288,
        "openapi/discord.json": 242,
        "openapi/slack-web.json": 174,
        "openapi/netlify.yml": 174,
        "alibaba/ecs-2014-05-26.json": 358,
        "alibaba/cs-2015-12-15.json": 129,
        "alibaba/openapiexplorer-2024-11-30.json": 16,
    }


@pytest.mark.parametrize("name", SPEC_FILES)
def test_the_normalised_shape_is_complete(name, imported):
    doc = imported(name).document
    info = doc["info"]
    assert info["style"] in {"RPC", "ROA", "OSS", "OpenAPI"}
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", info["product"])
    assert info["version"]
    assert isinstance(doc["endpoints"], list) and isinstance(doc["servers"], list)
    assert isinstance(doc["components"]["schemas"], dict)
    for api_name, api in doc["apis"].items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", api_name), api_name
        assert api["methods"] and all(m == m.lower() for m in api["methods"])
        arg_names = set()
        for param in api["parameters"]:
            assert param["in"] in LOCATIONS, (api_name, param)
            assert isinstance(param["required"], bool)
            assert isinstance(param["schema"], dict)
            arg = param.get("x-argName", param["name"])
            assert re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", arg), (api_name, arg)
            assert arg not in arg_names, (api_name, arg)
            arg_names.add(arg)
        if info["style"] == "OpenAPI":
            assert api["path"].startswith("/")
            assert api["systemTags"]["operationType"] in {"get", "create", "update", "delete"}
            assert api["x-operationId"]


@pytest.mark.parametrize(
    "name, fmt, product, version, style",
    [
        ("openapi/github.json", "openapi-3.0", "GitHub", "0.0.5", "OpenAPI"),
        ("openapi/openai.json", "openapi-3.1", "OpenAI", "2.3.0", "OpenAPI"),
        ("openapi/discord.json", "openapi-3.1", "Discord", "10", "OpenAPI"),
        ("openapi/slack-web.json", "swagger-2.0", "Slack", "1.7.0", "OpenAPI"),
        ("openapi/netlify.yml", "swagger-2.0", "Netlify", "2.55.0", "OpenAPI"),
        ("alibaba/ecs-2014-05-26.json", "alibaba", "Ecs", "2014-05-26", "RPC"),
        ("alibaba/cs-2015-12-15.json", "alibaba", "CS", "2015-12-15", "ROA"),
        ("alibaba/oss-2019-05-17.json", "alibaba", "Oss", "2019-05-17", "OSS"),
    ],
)
def test_product_code_and_version_come_from_info(name, fmt, product, version, style, imported):
    result = imported(name)
    assert (result.source_format, result.product, result.version, result.document["info"]["style"]) == (
        fmt,
        product,
        version,
        style,
    )


def test_base_urls_and_security_are_kept_for_execution(imported):
    github = imported("openapi/github.json").document
    assert github["servers"] == ["https://api.github.com"]
    upload = github["apis"]["repos_upload-release-asset"]
    assert upload["x-servers"] == ["https://uploads.github.com"]
    slack = imported("openapi/slack-web.json").document
    assert slack["servers"] == ["https://slack.com/api"]
    assert slack["components"]["securitySchemes"]["slackAuth"]["type"] == "oauth2"
    assert "authorizationCode" in slack["components"]["securitySchemes"]["slackAuth"]["flows"]
    openai = imported("openapi/openai.json").document
    assert openai["apis"]["createChatCompletion"]["x-security"] == [{"ApiKeyAuth": []}]
    assert openai["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "http", "scheme": "bearer"}


def test_alibaba_metadata_keeps_endpoints_styles_and_error_codes(imported):
    ecs = imported("alibaba/ecs-2014-05-26.json").document
    assert {"regionId": "cn-hangzhou", "endpoint": "ecs.cn-hangzhou.aliyuncs.com"} in ecs["endpoints"]
    run = ecs["apis"]["RunInstances"]
    styles = {p["name"]: p.get("style") for p in run["parameters"]}
    assert styles["DataDisk"] == "repeatList"
    assert run["errorCodes"]["400"][0]["errorCode"]
    assert ecs["apis"]["DescribeInstances"]["systemTags"]["operationType"] == "list"
    explorer = imported("alibaba/openapiexplorer-2024-11-30.json").document
    assert any(e["code"] == "NotFound.ApiMcpServer" for e in explorer["errorCodes"])
    assert {p["in"] for p in explorer["apis"]["GenerateCLICommand"]["parameters"]} == {"formData"}
    oss = imported("alibaba/oss-2019-05-17.json").document
    assert {p["in"] for api in oss["apis"].values() for p in api["parameters"]} >= {"host", "header", "body"}


def test_dangling_references_in_real_metadata_are_reported_per_operation(imported):
    problems = imported("alibaba/cs-2015-12-15.json").problems
    assert problems and all(p["api"] for p in problems)
    assert any("Hugepage" in p["message"] and p["api"] == "ModifyNodePoolNodeConfig" for p in problems)


def test_format_detection():
    assert detect_format({"openapi": "3.0.3"}) == "openapi-3.0"
    assert detect_format({"openapi": "3.1.0"}) == "openapi-3.1"
    assert detect_format({"swagger": "2.0"}) == "swagger-2.0"
    assert detect_format({"info": {"style": "ROA"}, "apis": {}}) == "alibaba"
