"""servers.cli: aliyun (RPC, ROA) and curl commands, and their quoting.

Commands are run for real by bash, with `aliyun` and `curl` on PATH replaced by a script that
prints the argument vector it received: what the shell hands the program is what we assert.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from servers.cli import PLACEHOLDER_BASE_URL, ApiCall, CliError, argv_for, command_for

NASTY = [
    "$(touch {marker})",
    "`touch {marker}`",
    "'; touch {marker}; echo '",
    '"; touch {marker}; echo "',
    "a b\nc\td",
    "$HOME ${{PATH}} !! \\ * ? [x] ~ # &",
    "--endpoint=evil.example.com",
    "-p",
    "@/etc/passwd",
    "",
    "日本語 ünïcode",
]

RPC_API = {
    "methods": ["post", "get"],
    "parameters": [
        {"name": "RegionId", "in": "query", "schema": {"type": "string"}},
        {"name": "InstanceId", "in": "query", "style": "repeatList", "schema": {"type": "array"}},
        {"name": "Tag", "in": "query", "style": "repeatList", "schema": {"type": "array"}},
        {"name": "Filter", "in": "query", "style": "json", "schema": {"type": "object"}},
        {"name": "Zones", "in": "query", "style": "simple", "schema": {"type": "array"}},
        {"name": "Name", "in": "query", "schema": {"type": "string"}},
        {"name": "DryRun", "in": "query", "schema": {"type": "boolean"}},
    ],
}
ROA_API = {
    "path": "/clusters/{ClusterId}/nodepools/{NodepoolId}",
    "methods": ["post"],
    "parameters": [
        {"name": "ClusterId", "in": "path", "schema": {"type": "string"}},
        {"name": "NodepoolId", "in": "path", "schema": {"type": "string"}},
        {"name": "force", "in": "query", "schema": {"type": "boolean"}},
        {"name": "x-acs-trace", "in": "header", "schema": {"type": "string"}},
        {
            "name": "body",
            "in": "body",
            "schema": {"type": "object", "properties": {"count": {"type": "integer"}, "name": {"type": "string"}}},
        },
    ],
}
ROA_FORM_API = {
    "path": "/api/cli/makeCode",
    "methods": ["post"],
    "parameters": [
        {"name": "product", "in": "formData", "schema": {"type": "string"}},
        {"name": "apiParams", "in": "formData", "style": "json", "schema": {"type": "object"}},
    ],
}
OAS_API = {
    "path": "/teams/{team}/widgets",
    "methods": ["post"],
    "consumes": ["application/json"],
    "parameters": [
        {"name": "team", "in": "path", "x-style": "simple", "x-explode": False, "schema": {"type": "string"}},
        {"name": "tags", "in": "query", "x-style": "form", "x-explode": True, "schema": {"type": "array"}},
        {"name": "ids", "in": "query", "x-style": "form", "x-explode": False, "schema": {"type": "array"}},
        {"name": "filter", "in": "query", "x-style": "deepObject", "x-explode": True, "schema": {"type": "object"}},
        {"name": "X-Request-Source", "in": "header", "x-style": "simple", "schema": {"type": "string"}},
        {"name": "session", "in": "cookie", "x-style": "form", "schema": {"type": "string"}},
        {
            "name": "body",
            "in": "body",
            "x-mediaType": "application/json",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}},
        },
    ],
    "x-security": [{"token": []}],
}
SCHEMES = {"token": {"type": "http", "scheme": "bearer"}, "key": {"type": "apiKey", "in": "header", "name": "X-Key"}}


def rpc() -> ApiCall:
    return ApiCall("Ecs", "2014-05-26", "DescribeInstances", "RPC", RPC_API)


def roa(api: dict[str, Any] = ROA_API) -> ApiCall:
    return ApiCall("CS", "2015-12-15", "ScaleClusterNodePool", "ROA", api)


def oas(api: dict[str, Any] = OAS_API, servers: tuple[str, ...] = ("https://widgets.example.com/api",)) -> ApiCall:
    return ApiCall("Widgets", "1.2.0", "createWidget", "OpenAPI", api, servers=servers, security_schemes=SCHEMES)


@pytest.fixture
def run(tmp_path: Path) -> Any:
    """`run(command)` → the argv the fake `aliyun`/`curl` received when bash ran `command`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("aliyun", "curl"):
        script = bin_dir / program
        script.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
        script.chmod(0o755)

    def execute(command: str, **env: str) -> list[str]:
        done = subprocess.run(
            ["bash", "-c", command],
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), **env},
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=30,
            check=True,
        )
        return json.loads(done.stdout)

    return execute


# aliyun RPC --------------------------------------------------------------------------------------


def test_rpc_flattens_repeat_lists_and_renders_each_style(run):
    arguments = {
        "RegionId": "cn-hangzhou",
        "InstanceId": ["i-1", "i-2"],
        "Tag": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a b"}],
        "Filter": {"status": ["Running"]},
        "Zones": ["a", "b"],
        "DryRun": True,
    }
    command = command_for(rpc(), arguments, region="cn-beijing")
    assert command.startswith(
        "aliyun ecs DescribeInstances --RegionId cn-hangzhou --InstanceId.1 i-1 --InstanceId.2 i-2"
    )
    assert run(command) == [
        "ecs",
        "DescribeInstances",
        "--RegionId",
        "cn-hangzhou",
        "--InstanceId.1",
        "i-1",
        "--InstanceId.2",
        "i-2",
        "--Tag.1.Key",
        "env",
        "--Tag.1.Value",
        "prod",
        "--Tag.2.Key",
        "team",
        "--Tag.2.Value",
        "a b",
        "--Filter",
        '{"status":["Running"]}',
        "--Zones",
        "a,b",
        "--DryRun",
        "true",
        "--region",
        "cn-beijing",
    ]


def test_rpc_region_comes_from_x_mcp_region_id_and_assume_role_is_dropped():
    argv = argv_for(rpc(), {"Name": "web", "x_mcp_region_id": "cn-shanghai", "x_assume_account_id": "123"})
    assert argv == ["aliyun", "ecs", "DescribeInstances", "--Name", "web", "--region", "cn-shanghai"]


@pytest.mark.parametrize("template", NASTY)
def test_rpc_values_stay_one_literal_argument(template, run, tmp_path):
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    command = command_for(rpc(), {"Name": value, "Tag": [{"Key": value, "Value": value}]})
    argv = run(command)
    assert not marker.exists()
    assert shlex.split(command)[1:] == argv
    if value.startswith("-"):  # bound with `=` so the CLI cannot take it for an option
        assert f"--Name={value}" in argv and f"--Tag.1.Key={value}" in argv
    else:
        assert argv[argv.index("--Name") + 1] == value
        assert argv[argv.index("--Tag.1.Value") + 1] == value


def test_rpc_from_real_metadata(specs_dir):
    from servers.catalog import import_bytes

    document = import_bytes((specs_dir / "alibaba" / "ecs-2014-05-26.json").read_bytes()).document
    api = ApiCall("Ecs", "2014-05-26", "DescribeInstances", "RPC", document["apis"]["DescribeInstances"])
    command = command_for(api, {"RegionId": "cn-hangzhou", "Tag": [{"Key": "k", "Value": "v"}], "PageSize": 10})
    assert command == "aliyun ecs DescribeInstances --RegionId cn-hangzhou --PageSize 10 --Tag.1.Key k --Tag.1.Value v"


# aliyun ROA --------------------------------------------------------------------------------------


def test_roa_substitutes_the_path_and_sends_query_headers_and_a_json_body(run):
    arguments = {
        "ClusterId": "c-1",
        "NodepoolId": "np/2",
        "force": True,
        "x-acs-trace": "t1",
        "count": 3,
        "body.name": "pool",
        "x_mcp_region_id": "cn-beijing",
    }
    argv = run(command_for(roa(), arguments))
    assert argv == [
        "cs",
        "POST",
        "/clusters/c-1/nodepools/np%2F2",
        "--force",
        "true",
        "--header",
        "x-acs-trace=t1",
        "--body",
        '{"count":3,"name":"pool"}',
        "--region",
        "cn-beijing",
    ]


def test_roa_body_given_whole_and_form_bodies():
    assert argv_for(roa(), {"ClusterId": "c", "NodepoolId": "n", "body": {"count": 1}})[-2:] == [
        "--body",
        '{"count":1}',
    ]
    argv = argv_for(roa(ROA_FORM_API), {"product": "Ecs", "apiParams": {"A": "x y"}})
    assert argv[:4] == ["aliyun", "cs", "POST", "/api/cli/makeCode"]
    assert argv[4:] == [
        "--header",
        "Content-Type=application/x-www-form-urlencoded",
        "--body",
        "product=Ecs&apiParams=%7B%22A%22%3A%22x%20y%22%7D",
    ]


@pytest.mark.parametrize("template", NASTY)
def test_roa_values_stay_literal_in_path_query_header_and_body(template, run, tmp_path):
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    command = command_for(roa(), {"ClusterId": value or "c", "NodepoolId": "n", "x-acs-trace": value, "name": value})
    argv = run(command)
    assert not marker.exists()
    assert argv[2] == "/clusters/" + quote(value or "c", safe="~") + "/nodepools/n"
    assert "\n" not in argv[argv.index("--header") + 1]  # a header value cannot start another header
    body = next(a for a in argv if a.startswith("--body=") or a.startswith("{"))
    assert json.loads(body.removeprefix("--body="))["name"] == value


def test_roa_requires_its_path_parameters():
    with pytest.raises(CliError, match="NodepoolId"):
        command_for(roa(), {"ClusterId": "c"})


# curl --------------------------------------------------------------------------------------------


def test_curl_serialises_path_query_headers_cookies_and_json_body(run):
    arguments = {
        "team": "red team",
        "tags": ["a", "b&c"],
        "ids": [1, 2],
        "filter": {"name": "x"},
        "X-Request-Source": "mcp",
        "session": "s1",
        "name": "gizmo",
        "size": 2,
    }
    argv = run(command_for(oas(), arguments), API_TOKEN="tok-1")
    assert argv == [
        "-X",
        "POST",
        "https://widgets.example.com/api/teams/red%20team/widgets?tags=a&tags=b%26c&ids=1%2C2&filter%5Bname%5D=x",
        "-H",
        "Authorization: Bearer tok-1",  # a placeholder the shell expands; no secret is ever written
        "-H",
        "X-Request-Source: mcp",
        "-b",
        "session=s1",
        "-H",
        "Content-Type: application/json",
        "--data-raw",
        '{"name":"gizmo","size":2}',
    ]


def test_curl_base_url_from_the_caller_or_a_placeholder():
    assert argv_for(oas(), {"team": "t"}, base_url="http://127.0.0.1:9/x")[3] == "http://127.0.0.1:9/x/teams/t/widgets"
    assert argv_for(oas(servers=()), {"team": "t"})[3] == f"{PLACEHOLDER_BASE_URL}/teams/t/widgets"


def test_curl_form_multipart_and_api_key_placeholders(run):
    form_api = {
        **OAS_API,
        "parameters": [{"name": "body", "in": "body", "x-mediaType": "application/x-www-form-urlencoded"}],
        "path": "/f",
        "x-security": [{"key": []}],
    }
    argv = run(command_for(oas(form_api), {"body": {"a": "1 2", "b": ["x", "@/etc/passwd"]}}), API_KEY="k")
    assert argv[-5:] == [
        "X-Key: k",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "--data-raw",
        "a=1%202&b=x&b=%40%2Fetc%2Fpasswd",
    ]
    multipart = {**form_api, "parameters": [{"name": "body", "in": "body", "x-mediaType": "multipart/form-data"}]}
    argv = argv_for(oas(multipart), {"body": {"file": "@/etc/passwd"}})
    assert argv[-2:] == ["--form-string", "file=@/etc/passwd"]  # --form-string never reads files


@pytest.mark.parametrize("template", NASTY)
def test_curl_values_stay_literal(template, run, tmp_path):
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    command = command_for(oas(), {"team": value, "tags": [value], "X-Request-Source": value, "name": value})
    argv = run(command, API_TOKEN="t")
    assert not marker.exists()
    assert len([a for a in argv if a.startswith("http")]) == 1  # the value never becomes another URL or option
    assert json.loads(argv[-1]) == {"name": value}
    (header,) = [a for a in argv if a.startswith("X-Request-Source: ")]
    assert "\n" not in header


def test_curl_globoff_when_the_url_has_brackets():
    api = {**OAS_API, "parameters": [OAS_API["parameters"][0]], "x-security": []}
    argv = argv_for(oas(api, servers=("https://{region}.example.com",)), {"team": "t"})
    assert argv[:4] == ["curl", "-X", "POST", "--globoff"]


def test_tool_bindings_render_like_catalog_apis(specs_dir):
    from servers.catalog import import_bytes
    from servers.compiler import compile_server

    document = import_bytes((specs_dir / "alibaba" / "cs-2015-12-15.json").read_bytes()).document
    server = {"apis": [{"product": "CS", "apiVersion": "2015-12-15", "selectors": ["ScaleClusterNodePool"]}]}
    compiled = compile_server(server, {("CS", "2015-12-15"): document})
    (binding,) = compiled.bindings.values()
    command = command_for(binding, {"ClusterId": "c-1", "NodepoolId": "np", "body": {"count": 2}})
    assert command == "aliyun cs POST /clusters/c-1/nodepools/np --body '{\"count\":2}'"


# The command performs the call the runtime would make ---------------------------------------------

STYLED_OAS = {
    "path": "/teams/{team}/items/{ids}{coords}",
    "methods": ["get"],
    "parameters": [
        {"name": "team", "in": "path", "x-style": "label", "x-explode": True, "schema": {"type": "object"}},
        {"name": "ids", "in": "path", "x-style": "simple", "x-explode": False, "schema": {"type": "array"}},
        {"name": "coords", "in": "path", "x-style": "matrix", "x-explode": True, "schema": {"type": "object"}},
        {"name": "q", "in": "query", "x-style": "pipeDelimited", "x-explode": False, "schema": {"type": "array"}},
        {"name": "f", "in": "query", "x-style": "deepObject", "x-explode": True, "schema": {"type": "object"}},
        {"name": "page", "in": "query", "x-argName": "pageNumber", "schema": {"type": "integer"}},
        {"name": "X-Trace", "in": "header", "x-style": "simple", "x-explode": True, "schema": {"type": "object"}},
    ],
}
MAP_RPC = {
    "methods": ["post"],
    "parameters": [
        {"name": "RegionId", "in": "query", "schema": {"type": "string"}},
        {
            "name": "Tags",
            "in": "query",
            "style": "flat",
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        {"name": "Names", "in": "query", "style": "spaceDelimited", "schema": {"type": "array"}},
    ],
}


def test_curl_requests_what_the_runtime_sends():
    from runtime.build import build_request

    arguments = {
        "team": {"name": "red", "size": 3},
        "ids": [1, 2],
        "coords": {"x": 1, "y": 2},
        "q": ["a", "b c"],
        "f": {"kind": "x", "tags": ["t1"]},
        "pageNumber": 2,
        "X-Trace": {"span": "s1", "sampled": True},
    }
    call = ApiCall("Widgets", "1.0", "listItems", "OpenAPI", STYLED_OAS, servers=("https://api.test/v1",))
    argv = argv_for(call, arguments)
    sent = build_request(style="OpenAPI", api=STYLED_OAS, arguments=dict(arguments), base_url="https://api.test/v1")
    assert argv[argv.index("GET") + 1] == sent.full_url()
    assert f"X-Trace: {sent.headers['X-Trace']}" in argv


def test_aliyun_flags_are_the_runtime_parameters_including_maps_and_api_names():
    from runtime.build import build_request

    arguments = {"RegionId": "cn-beijing", "Tags": {"env": "prod", "team": "a b"}, "Names": ["x", "y"]}
    argv = argv_for(ApiCall("Ecs", "2014-05-26", "TagThings", "RPC", MAP_RPC), arguments)
    sent = build_request(style="RPC", api=MAP_RPC, arguments=dict(arguments), base_url="https://ecs.test")
    flags = list(zip(argv[3::2], argv[4::2], strict=True))
    assert flags == [(f"--{key}", value) for key, value in sent.query]
    assert ("--Tags.#3#env", "prod") in flags  # map keys as the official SDK flattens them
    # GenerateCLICommand callers may name the API's parameters instead of the tool's arguments
    renamed = ApiCall("Widgets", "1.0", "listItems", "OpenAPI", STYLED_OAS, servers=("https://api.test/v1",))
    by_api_name = argv_for(renamed, {"team": {"name": "r"}, "ids": [1], "coords": {"x": 1}, "page": 5})
    by_argument = argv_for(renamed, {"team": {"name": "r"}, "ids": [1], "coords": {"x": 1}, "pageNumber": 5})
    assert by_api_name == by_argument
    assert "page=5" in by_api_name[by_api_name.index("GET") + 1]
