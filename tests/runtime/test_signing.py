"""Alibaba Cloud signature V3 and request building, checked against the official packages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.utils import Utils as TeaUtils

from runtime import build, signing


def _official_authorization(request: signing.HttpRequest, key_id: str, secret: str) -> str:
    """What alibabacloud-tea-openapi computes for the request as it goes on the wire."""
    signed = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() in signed}
    url = urlsplit(request.full_url())
    wire = SimpleNamespace(
        method=request.method,
        pathname=url.path,
        query=dict(parse_qsl(url.query, keep_blank_values=True)),
        headers=headers,
    )
    return TeaUtils.get_authorization(wire, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], key_id, secret)


def test_it_signs_rpc_requests_like_the_official_sdk():
    request = signing.HttpRequest(
        method="POST",
        url="https://ecs.cn-hangzhou.aliyuncs.com/",
        query=[("RegionId", "cn-hangzhou"), ("Tag.1.Key", "env name"), ("Tag.1.Value", "prod/*~")],
    )
    signing.sign_acs3(
        request,
        action="DescribeInstances",
        version="2014-05-26",
        access_key_id="LTAIexample",
        access_key_secret="secret-example",
        now=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        nonce="nonce-1",
    )
    assert request.headers["x-acs-date"] == "2025-01-02T03:04:05Z"
    assert request.headers["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAIexample,SignedHeaders=")
    assert request.headers["Authorization"] == _official_authorization(request, "LTAIexample", "secret-example")


def test_it_signs_roa_requests_with_a_json_body_and_a_security_token():
    api = {
        "path": "/clusters/{ClusterId}/nodepools/{NodepoolId}",
        "methods": ["post"],
        "parameters": [
            {"name": "ClusterId", "in": "path", "schema": {"type": "string"}},
            {"name": "NodepoolId", "in": "path", "schema": {"type": "string"}},
            {"name": "body", "in": "body", "style": "json", "schema": {"type": "object", "properties": {}}},
        ],
    }
    request = build.build_request(
        style="ROA",
        api=api,
        arguments={"ClusterId": "c 1", "NodepoolId": "np1", "body": {"count": 2, "name": "中文"}},
        base_url="https://cs.cn-beijing.aliyuncs.com",
    )
    assert request.path == "/clusters/c%201/nodepools/np1"
    signing.sign_acs3(
        request,
        action="ScaleClusterNodePool",
        version="2015-12-15",
        access_key_id="LTAIexample",
        access_key_secret="s3cret",
        security_token="sts-token",
    )
    assert request.headers["x-acs-security-token"] == "sts-token"
    assert request.headers["x-acs-content-sha256"] == signing.sha256_hex(request.body)
    assert json.loads(request.body) == {"count": 2, "name": "中文"}
    assert request.headers["Authorization"] == _official_authorization(request, "LTAIexample", "s3cret")


def test_a_changed_request_no_longer_verifies():
    request = signing.HttpRequest(method="POST", url="https://ecs.aliyuncs.com/", query=[("A", "1")])
    signing.sign_acs3(request, action="X", version="2014-05-26", access_key_id="id", access_key_secret="s")
    request.query = [("A", "2")]
    assert request.headers["Authorization"] != _official_authorization(request, "id", "s")


def test_rpc_styles_match_alibabacloud_openapi_util():
    tags = [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}]
    pairs = build.alibaba_pairs({"name": "Tag", "style": "repeatList"}, tags)
    official = OpenApiUtil.array_to_string_with_specified_style(tags, "Tag", "repeatList")
    assert sorted(f"{k}={v}" for k, v in pairs) == sorted(official.split("&&"))
    ids = ["i-1", "i-2"]
    assert build.alibaba_pairs({"name": "Ids", "style": "json"}, ids) == [
        ("Ids", OpenApiUtil.array_to_string_with_specified_style(ids, "Ids", "json"))
    ]
    assert build.alibaba_pairs({"name": "Ids", "style": "simple"}, ids) == [
        ("Ids", OpenApiUtil.array_to_string_with_specified_style(ids, "Ids", "simple"))
    ]
    labels = {"env": "prod", "team": "core"}
    schema = {"type": "object", "additionalProperties": {"type": "string"}}
    flat = build.alibaba_pairs({"name": "Labels", "style": "flat", "schema": schema}, labels)
    expected = OpenApiUtil.query({"Labels": OpenApiUtil.map_to_flat_style(labels)})
    assert dict(flat) == expected


def test_openapi_parameters_follow_style_and_explode():
    api = {
        "path": "/repos/{owner}/{repo}/issues",
        "methods": ["post"],
        "parameters": [
            {"name": "owner", "in": "path", "x-style": "simple"},
            {"name": "repo", "in": "path"},
            {"name": "labels", "in": "query", "x-style": "form", "x-explode": True},
            {"name": "ids", "in": "query", "x-style": "form", "x-explode": False},
            {"name": "filter", "in": "query", "x-style": "deepObject", "x-explode": True},
            {"name": "X-Trace", "in": "header", "x-argName": "X-Trace"},
            {"name": "body", "in": "body", "x-mediaType": "application/json", "schema": {"type": "object"}},
        ],
    }
    request = build.build_request(
        style="OpenAPI",
        api=api,
        arguments={
            "owner": "oct o",
            "repo": "hello",
            "labels": ["a", "b"],
            "ids": [1, 2],
            "filter": {"state": "open"},
            "X-Trace": "t1",
            "body": {"title": "Bug"},
            "body.assignee": "me",
        },
        base_url="https://api.example.com/v3",
    )
    assert request.url == "https://api.example.com/v3/repos/oct%20o/hello/issues"
    assert request.query == [("labels", "a"), ("labels", "b"), ("ids", "1,2"), ("filter[state]", "open")]
    assert request.headers["X-Trace"] == "t1"
    assert json.loads(request.body) == {"title": "Bug", "assignee": "me"}
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize("value", ["héllo", "a\r\nX-Injected: 1"])
def test_header_parameters_must_be_printable_ascii(value):
    api = {"path": "/x", "methods": ["get"], "parameters": [{"name": "X-Trace", "in": "header"}]}
    with pytest.raises(build.BuildError, match="Header parameter X-Trace must be printable ASCII text"):
        build.build_request(style="OpenAPI", api=api, arguments={"X-Trace": value}, base_url="https://api.example.com")
    rpc = {"parameters": [{"name": "X-Trace", "in": "header"}]}
    with pytest.raises(build.BuildError, match="X-Trace"):
        build.build_request(style="RPC", api=rpc, arguments={"X-Trace": value}, base_url="https://ecs.example.com")


@pytest.mark.parametrize("value", [" t1", "t1 ", " "])
def test_header_parameters_must_not_start_or_end_with_spaces(value):
    api = {"path": "/x", "methods": ["get"], "parameters": [{"name": "X-Trace", "in": "header"}]}
    with pytest.raises(build.BuildError, match="Header parameter X-Trace must not start or end with spaces"):
        build.build_request(style="OpenAPI", api=api, arguments={"X-Trace": value}, base_url="https://api.example.com")
    # Spaces inside the value are fine.
    inside = build.build_request(
        style="OpenAPI", api=api, arguments={"X-Trace": "t 1"}, base_url="https://api.example.com"
    )
    assert inside.headers["X-Trace"] == "t 1"
