"""The built-in system tools a server may enable (SPEC §5.5).

One list, shared by `ListApiMcpServerSystemTools`, server validation, the console and the MCP
runtime (`runtime/system_tools.py` implements each of them). It lists exactly what the runtime
serves: `QueryTerraformTaskStatus` (SPEC §5.5) joins it with the Terraform tools that need it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemTool:
    name: str
    description: str


SYSTEM_TOOLS: tuple[SystemTool, ...] = (
    SystemTool(
        "FetchRamActionDetails",
        "Permission diagnosis: for the given tools or APIs, lists the policy actions they require and "
        "whether the caller is allowed, with the statement that allows or denies each one.",
    ),
    SystemTool(
        "SearchApis",
        "Searches the APIs of the server's products by keyword, for catalogs far larger than the tools "
        "a model can hold at once.",
    ),
    SystemTool("GetApiDefinition", "Returns the full definition (parameters, responses, errors) of one API."),
    SystemTool(
        "CallApi",
        "Calls any API of the server's products by name with the same validation, authorization and "
        "audit as a regular tool.",
    ),
    SystemTool(
        "GenerateCLICommand",
        "Returns the command line (aliyun CLI for Alibaba Cloud products, curl otherwise) that performs "
        "an API call, without calling it.",
    ),
    SystemTool("LookupEvents", "Lists the caller's own audit events (tool calls and management operations)."),
)

SYSTEM_TOOL_NAMES: frozenset[str] = frozenset(tool.name for tool in SYSTEM_TOOLS)


def is_system_tool(name: str) -> bool:
    return name in SYSTEM_TOOL_NAMES


# This product's own management API in the catalog (`servers.system_servers`). Its tools call the
# management API on loopback as the calling user (docs/runtime.md, "System servers").
MANAGEMENT_PRODUCT = "OpenAPIExplorer"
MANAGEMENT_VERSION = "2024-11-30"
MANAGEMENT_STYLE = "OpenAPI"


def is_management_api(product: str, version: str, style: str) -> bool:
    """True for the built-in catalog entry of this product's management API (an OpenAPI import;
    Alibaba Cloud's own OpenAPIExplorer metadata, style ROA, is an ordinary upstream product)."""
    return product == MANAGEMENT_PRODUCT and version == MANAGEMENT_VERSION and style == MANAGEMENT_STYLE
