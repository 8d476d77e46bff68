"""What the compiler produces: the tools of a server and how to execute each of them.

These types are the contract with the MCP runtime; fields are only ever added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The arguments every tool of a regional or multi-account server may take besides its API's own:
# the region the call runs in and the account whose role it runs as (SPEC §5.3, §6.4).
REGION_ARG = "x_mcp_region_id"
ASSUME_ARG = "x_assume_account_id"


@dataclass(frozen=True)
class ValidationProblem:
    """A save-time problem with a server's settings. `code` is a management API error code."""

    code: str
    message: str
    field: str = ""


@dataclass(frozen=True, eq=False)
class ToolBinding:
    """How to execute one tool (one catalog API) of a server.

    - `tool_name`: the MCP tool name; `product`, `version`, `api_name`: the catalog API
      (`version` as in the catalog, e.g. `2014-05-26`); `action`: the policy action
      `{product lowercase}:{ApiName}`.
    - `style`: `RPC`, `ROA` or `OSS` (Alibaba Cloud metadata) or `OpenAPI`.
    - `api`: the catalog's normalised API definition, unmodified (execution never depends on
      description overrides). Its `parameters` are `{name, in, style, required, schema, x-…}`;
      the tool argument of a parameter is named `x-argName` when present, else `name`. OpenAPI
      parameters carry `x-style`/`x-explode` (and `x-allowReserved`, `x-contentType`,
      `x-collectionFormat`); a body parameter (`in: body`) carries `x-mediaType` (JSON, form or
      other); `api["x-security"]` lists the security requirements, `api["x-servers"]` optional
      per-operation base URLs.
    - `arguments`: tool argument name → the parameter dict (for the parameters the tool exposes
      or that constants fill in; deleted parameters are absent).
    - `constants`: values merged into the arguments before the request is built; keys are tool
      argument names, or `<bodyArgument>.<property>` (e.g. `body.name`) for one property of an
      object body.
    - `cli_mode`: return the CLI command instead of calling (`executeCliCommand`).
    - `output_schema`: `True` when the tool publishes an outputSchema; then the result carries
      `structuredContent`, which is the response itself, or `{"result": response}` when
      `output_wrapped` (the documented response is not an object).
    - `regional`: the tool has `x_mcp_region_id`; `endpoints` maps region id → endpoint host.
    - `assume_role`: the tool has `x_assume_account_id` (run in that account as `assume_role_name`).
    - `servers`: base URLs (OpenAPI); `security_schemes`: the document's security schemes.
    - `input_schema`: the published inputSchema (for a precompiled validator).
    """

    tool_name: str
    product: str
    version: str
    api_name: str
    action: str
    style: str
    api: Mapping[str, Any]
    arguments: Mapping[str, Mapping[str, Any]]
    constants: Mapping[str, Any]
    cli_mode: bool
    output_schema: bool
    output_wrapped: bool
    regional: bool
    endpoints: Mapping[str, str]
    assume_role: bool
    assume_role_name: str
    servers: tuple[str, ...]
    security_schemes: Mapping[str, Any]
    input_schema: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class CompiledServer:
    """A server's compiled tools. `tools_json` is the `tools/list` result, `{"tools": [...]}`, as UTF-8 JSON."""

    server_id: str
    language: str
    tools: tuple[dict[str, Any], ...]
    bindings: Mapping[str, ToolBinding]
    api_infos: tuple[dict[str, str], ...]
    required_ram_policy: str
    warnings: tuple[str, ...]
    tools_json: bytes
    prompts: tuple[dict[str, Any], ...] = ()
    instructions: str = ""
    key: tuple[Any, ...] = field(default=())
