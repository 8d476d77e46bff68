"""The client configuration snippets, checked against the formats each client documents."""

from __future__ import annotations

import base64
import json
import shlex
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from servers.client_config import client_config, client_configs

URL = "https://mcp.example.com/accounts/1/custom/demo/id/abc/mcp"
SSE = "https://mcp.example.com/accounts/1/custom/demo/id/abc/sse"


def by_key(url: str = URL, transport: str = "streamable-http") -> dict:
    return {c.key: c for c in client_configs(name="demo", url=url, transport=transport)}  # type: ignore[arg-type]


def test_every_client_of_the_spec_is_offered() -> None:
    assert list(by_key()) == [
        "cursor",
        "vscode",
        "claude-code",
        "claude-desktop",
        "lingma",
        "cherry-studio",
        "cline",
        "windsurf",
        "inspector",
        "json",
    ]


def test_json_snippets_are_valid_json() -> None:
    for transport, url in (("streamable-http", URL), ("sse", SSE)):
        for config in by_key(url, transport).values():
            if config.language == "json":
                json.loads(config.content)


def test_cursor_mcp_json_and_deeplink() -> None:
    cursor = by_key()["cursor"]
    assert json.loads(cursor.content) == {"mcpServers": {"demo": {"url": URL}}}
    link = urlsplit(cursor.install_link)
    assert (link.scheme, link.netloc, link.path) == ("cursor", "anysphere.cursor-deeplink", "/mcp/install")
    query = parse_qs(link.query)
    assert query["name"] == ["demo"]
    # config: base64 of the server entry itself (not wrapped in mcpServers)
    assert json.loads(base64.b64decode(query["config"][0])) == {"url": URL}


def test_vscode_mcp_json_and_install_link() -> None:
    vscode = by_key()["vscode"]
    assert json.loads(vscode.content) == {"servers": {"demo": {"type": "http", "url": URL}}}
    assert vscode.install_link.startswith("vscode:mcp/install?")
    payload = json.loads(unquote(vscode.install_link.split("?", 1)[1]))
    assert payload == {"name": "demo", "type": "http", "url": URL}
    assert json.loads(by_key(SSE, "sse")["vscode"].content)["servers"]["demo"]["type"] == "sse"


def test_claude_code_command() -> None:
    assert shlex.split(by_key()["claude-code"].content) == ["claude", "mcp", "add", "--transport", "http", "demo", URL]
    assert shlex.split(by_key(SSE, "sse")["claude-code"].content)[4] == "sse"


def test_claude_desktop_and_lingma_use_mcp_remote() -> None:
    for key in ("claude-desktop", "lingma"):
        entry = json.loads(by_key()[key].content)["mcpServers"]["demo"]
        assert entry["command"] == "npx"
        assert entry["args"][:3] == ["-y", "mcp-remote", URL]
        assert entry["args"][3:] == ["--transport", "http-only"]
        sse_entry = json.loads(by_key(SSE, "sse")[key].content)["mcpServers"]["demo"]
        assert sse_entry["args"][2:] == [SSE, "--transport", "sse-only"]


def test_mcp_remote_allows_plain_http_only_where_it_must() -> None:
    local = json.loads(by_key("http://127.0.0.1:8000/x/mcp")["claude-desktop"].content)
    assert "--allow-http" not in local["mcpServers"]["demo"]["args"]
    private = json.loads(by_key("http://10.0.0.5:8000/x/mcp")["claude-desktop"].content)
    assert private["mcpServers"]["demo"]["args"][-1] == "--allow-http"


def test_cherry_studio_json_and_deeplink() -> None:
    cherry = by_key()["cherry-studio"]
    document = json.loads(cherry.content)
    assert document["mcpServers"]["demo"] == {
        "name": "demo",
        "type": "streamableHttp",
        "baseUrl": URL,
        "isActive": True,
    }
    link = urlsplit(cherry.install_link)
    assert (link.scheme, link.netloc, link.path) == ("cherrystudio", "mcp", "/install")
    assert json.loads(base64.b64decode(parse_qs(link.query)["servers"][0])) == document
    assert json.loads(by_key(SSE, "sse")["cherry-studio"].content)["mcpServers"]["demo"]["type"] == "sse"


def test_cline_windsurf_inspector_and_plain_json() -> None:
    cline = json.loads(by_key()["cline"].content)["mcpServers"]["demo"]
    assert cline == {"type": "streamableHttp", "url": URL, "disabled": False, "autoApprove": []}
    assert json.loads(by_key()["windsurf"].content) == {"mcpServers": {"demo": {"serverUrl": URL}}}
    inspector = by_key()["inspector"]
    assert json.loads(inspector.content) == {"mcpServers": {"demo": {"type": "streamable-http", "url": URL}}}
    assert parse_qs(urlsplit(inspector.install_link).query) == {"transport": ["streamable-http"], "serverUrl": [URL]}
    assert json.loads(by_key(SSE, "sse")["json"].content) == {"mcpServers": {"demo": {"type": "sse", "url": SSE}}}


def test_one_client_by_key() -> None:
    assert client_config(key="windsurf", name="demo", url=URL, transport="sse") is not None
    assert client_config(key="nope", name="demo", url=URL, transport="sse") is None
    with pytest.raises(ValueError):
        client_configs(name="demo", url=URL, transport="websocket")  # type: ignore[arg-type]
