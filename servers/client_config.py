"""One-click client configuration for an MCP server URL (SPEC §9). Pure: no Django imports.

Every client connects to the same endpoint and signs in with OAuth by itself (RFC 9728 discovery
from the 401 answer), so no credentials appear in any of these snippets. The formats, and the
client documentation each one follows, are described in docs/client-config.md.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

Transport = Literal["streamable-http", "sse"]

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass(frozen=True)
class ClientConfig:
    """What the console shows for one client: a snippet to copy, a file to download, a link to click."""

    key: str  # stable identifier, used in download URLs
    label: str
    content: str  # the text to copy (JSON document or shell command)
    language: Literal["json", "shell"]
    filename: str = ""  # download name; empty when the snippet is a command, not a file
    location: str = ""  # where the client reads the file from
    install_link: str = ""  # deeplink that installs the server in one click
    install_label: str = ""
    notes: str = ""


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _b64(document: Any) -> str:
    return base64.b64encode(_compact(document).encode()).decode()


def _mcp_remote_args(url: str, transport: Transport) -> list[str]:
    """Arguments for `npx mcp-remote`, the stdio bridge for clients without remote OAuth support."""
    args = ["-y", "mcp-remote", url, "--transport", "http-only" if transport == "streamable-http" else "sse-only"]
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        # mcp-remote refuses plain HTTP except on loopback unless told otherwise (private networks).
        args.append("--allow-http")
    return args


def cursor(name: str, url: str, transport: Transport) -> ClientConfig:
    # Cursor detects the transport from the server's answers; `url` is all it needs.
    entry = {"url": url}
    link = "cursor://anysphere.cursor-deeplink/mcp/install?" + urlencode({"name": name, "config": _b64(entry)})
    return ClientConfig(
        key="cursor",
        label="Cursor",
        content=_json({"mcpServers": {name: entry}}),
        language="json",
        filename="mcp.json",
        location="~/.cursor/mcp.json (all projects) or .cursor/mcp.json (this project)",
        install_link=link,
        install_label="Add to Cursor",
    )


def vscode(name: str, url: str, transport: Transport) -> ClientConfig:
    entry = {"type": "http" if transport == "streamable-http" else "sse", "url": url}
    link = "vscode:mcp/install?" + quote(_compact({"name": name, **entry}), safe="")
    return ClientConfig(
        key="vscode",
        label="VS Code",
        content=_json({"servers": {name: entry}}),
        language="json",
        filename="mcp.json",
        location=".vscode/mcp.json in the workspace (or the user mcp.json via “MCP: Open User Configuration”)",
        install_link=link,
        install_label="Install in VS Code",
    )


def claude_code(name: str, url: str, transport: Transport) -> ClientConfig:
    flag = "http" if transport == "streamable-http" else "sse"
    return ClientConfig(
        key="claude-code",
        label="Claude Code",
        content=f"claude mcp add --transport {flag} {_shell_quote(name)} {_shell_quote(url)}\n",
        language="shell",
        notes="Then run /mcp inside Claude Code and choose Authenticate to sign in.",
    )


def claude_desktop(name: str, url: str, transport: Transport) -> ClientConfig:
    entry = {"command": "npx", "args": _mcp_remote_args(url, transport)}
    return ClientConfig(
        key="claude-desktop",
        label="Claude Desktop",
        content=_json({"mcpServers": {name: entry}}),
        language="json",
        filename="claude_desktop_config.json",
        location="~/Library/Application Support/Claude/claude_desktop_config.json (macOS), "
        "%APPDATA%\\Claude\\claude_desktop_config.json (Windows)",
        notes="Needs Node.js 18+; mcp-remote opens the browser to sign in on first use. Restart Claude Desktop.",
    )


def lingma(name: str, url: str, transport: Transport) -> ClientConfig:
    entry = {"command": "npx", "args": _mcp_remote_args(url, transport)}
    return ClientConfig(
        key="lingma",
        label="Lingma",
        content=_json({"mcpServers": {name: entry}}),
        language="json",
        filename="lingma_mcp.json",
        location="Lingma → MCP tools → + → Add manually (type STDIO, command npx, the arguments below), "
        "or paste into the MCP configuration file",
        notes="Needs Node.js 18+; mcp-remote opens the browser to sign in on first use.",
    )


def cherry_studio(name: str, url: str, transport: Transport) -> ClientConfig:
    entry = {
        "name": name,
        "type": "streamableHttp" if transport == "streamable-http" else "sse",
        "baseUrl": url,
        "isActive": True,
    }
    document = {"mcpServers": {name: entry}}
    return ClientConfig(
        key="cherry-studio",
        label="Cherry Studio",
        content=_json(document),
        language="json",
        filename="cherry-studio-mcp.json",
        location="Settings → MCP Servers → Add → Import from JSON",
        install_link="cherrystudio://mcp/install?" + urlencode({"servers": _b64(document)}),
        install_label="Add to Cherry Studio",
    )


def cline(name: str, url: str, transport: Transport) -> ClientConfig:
    entry: dict[str, Any] = {
        "type": "streamableHttp" if transport == "streamable-http" else "sse",
        "url": url,
        "disabled": False,
        "autoApprove": [],
    }
    return ClientConfig(
        key="cline",
        label="Cline",
        content=_json({"mcpServers": {name: entry}}),
        language="json",
        filename="cline_mcp_settings.json",
        location="Cline → MCP Servers → Configure → Configure MCP Servers (cline_mcp_settings.json)",
    )


def windsurf(name: str, url: str, transport: Transport) -> ClientConfig:
    # Windsurf names the remote URL `serverUrl` (a Cursor-style `url` entry does not connect).
    return ClientConfig(
        key="windsurf",
        label="Windsurf",
        content=_json({"mcpServers": {name: {"serverUrl": url}}}),
        language="json",
        filename="mcp_config.json",
        location="~/.codeium/windsurf/mcp_config.json (Cascade → MCP servers → Configure)",
    )


def inspector(name: str, url: str, transport: Transport) -> ClientConfig:
    entry = {"type": transport, "url": url}
    ui = "http://localhost:6274/?" + urlencode({"transport": transport, "serverUrl": url})
    command = (
        "npx @modelcontextprotocol/inspector --config mcp-inspector.json --server "
        f"{_shell_quote(name)}\n# or open {ui} once the inspector runs\n"
    )
    return ClientConfig(
        key="inspector",
        label="MCP Inspector",
        content=_json({"mcpServers": {name: entry}}),
        language="json",
        filename="mcp-inspector.json",
        location="the directory you start the inspector from",
        install_link=ui,
        install_label="Open in a running MCP Inspector",
        notes=command,
    )


def plain_json(name: str, url: str, transport: Transport) -> ClientConfig:
    return ClientConfig(
        key="json",
        label="JSON",
        content=_json({"mcpServers": {name: {"type": transport, "url": url}}}),
        language="json",
        filename=f"{name}.mcp.json",
        location="any client that reads the common mcpServers format",
    )


_BUILDERS = (
    cursor,
    vscode,
    claude_code,
    claude_desktop,
    lingma,
    cherry_studio,
    cline,
    windsurf,
    inspector,
    plain_json,
)


def client_configs(*, name: str, url: str, transport: Transport) -> list[ClientConfig]:
    """Configurations for every supported client, for one server URL and transport."""
    if transport not in ("streamable-http", "sse"):
        raise ValueError(f"unknown transport {transport!r}")
    return [builder(name, url, transport) for builder in _BUILDERS]


def client_config(*, key: str, name: str, url: str, transport: Transport) -> ClientConfig | None:
    """The configuration of one client by its key, or None."""
    return next((c for c in client_configs(name=name, url=url, transport=transport) if c.key == key), None)


def _shell_quote(value: str) -> str:
    """POSIX quoting that leaves ordinary names and URLs readable."""
    if value and all(ch.isalnum() or ch in "-_./:@%+=," for ch in value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"
