"""Wire shapes of the management API (OpenAPIExplorer 2024-11-30), as pydantic models (pure, no Django).

Attribute names are the contract's camelCase names on purpose: they mirror
`specs/alibaba/openapiexplorer-2024-11-30.json` one to one (only `async`, a Python keyword, needs an
alias). Input models are strict (no coercion: `"true"` is not a boolean) and forbid unknown fields;
they check types only. Meaning (name format, catalog lookups, HCL syntax…) is checked by
`servers.server_validation` so the console gets the same errors through the services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from servers.errors import ApiError

LANGUAGES = ("EN_US", "ZH_CN")
PUBLIC_ACCESS = ("on", "off", "follow")
DESTROY_POLICIES = ("NEVER", "ALWAYS", "ON_FAILURE")
SOURCE_TYPES = ("custom", "system")


def _opt(description: str = "", enum: Sequence[str] | None = None, alias: str | None = None) -> Any:
    """An optional field whose absence (not null) means "not given"."""
    extra: dict[str, Any] = {"enum": list(enum)} if enum else {}
    return Field(default=None, description=description, alias=alias, json_schema_extra=extra or None)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Request bodies ------------------------------------------------------------------------------


class ApiSelection(_Input):
    product: str = Field(description="Product code, e.g. Ecs")
    apiVersion: str = Field(description="Product version, e.g. 2014-05-26")
    selectors: list[str] = Field(description="Case-sensitive globs (`*`, `?`) on API names")


class ConstParameter(_Input):
    key: str = _opt("Top-level parameter name (`body.X` for ROA body properties)")
    value: Any = _opt("Constant value merged in at call time")


class AdditionalApiDescription(_Input):
    product: str = _opt()
    apiVersion: str = _opt()
    apiName: str = _opt()
    apiOverrideJson: str = _opt("JSON object overriding `summary` and `parameters`")
    executeCliCommand: bool = _opt("Return the CLI command instead of calling the API")
    enableOutputSchema: bool = _opt("Publish the response schema as outputSchema")
    constParameters: list[ConstParameter] = _opt()


class PromptArgument(_Input):
    name: str = _opt()
    description: str = _opt()
    required: bool = _opt()


class Prompt(_Input):
    name: str = _opt()
    description: str = _opt()
    content: str = _opt("Text with `{{argument}}` placeholders")
    arguments: list[PromptArgument] = _opt()


class TerraformTool(_Input):
    code: str = _opt("HCL")
    name: str = _opt()
    description: str = _opt()
    async_: bool = _opt("Return a TaskId at once", alias="async")
    destroyPolicy: str = _opt(enum=DESTROY_POLICIES)


class ServerFields(_Input):
    """Fields shared by CreateApiMcpServer and UpdateApiMcpServer bodies."""

    description: str = _opt()
    language: str = _opt("Language of generated tool text", LANGUAGES)
    additionalApiDescriptions: list[AdditionalApiDescription] = _opt()
    prompts: list[Prompt] = _opt()
    systemTools: list[str] = _opt("Names from ListApiMcpServerSystemTools")
    oauthClientId: str = _opt("Custom OAuth: only tokens issued to this client are accepted")
    instructions: str = _opt()
    enableAssumeRole: bool = _opt()
    assumeRoleName: str = _opt()
    assumeRoleExtraPolicy: str = _opt("Policy JSON intersected with the assumed role's policies")
    publicAccess: str = _opt(enum=PUBLIC_ACCESS)
    enableCustomVpcWhitelist: bool = _opt()
    terraformTools: list[TerraformTool] = _opt()
    vpcWhitelists: list[str] = _opt()


class CreateApiMcpServerBody(ServerFields):
    name: str = Field(description="3-64 chars of a-z 0-9 _ -, not starting with a digit; unique per account")
    apis: list[ApiSelection]
    clientToken: str = _opt("Idempotency token: ASCII, at most 64 characters")


class UpdateApiMcpServerBody(ServerFields):
    apis: list[ApiSelection] = _opt()


class UpdateApiMcpServerUserConfigBody(_Input):
    enablePublicAccess: bool = _opt()
    vpcWhitelists: list[str] = _opt()


# Responses -----------------------------------------------------------------------------------


class Urls(BaseModel):
    sse: str
    mcp: str
    vpcSse: str
    vpcMcp: str


class ApiSelectionOut(BaseModel):
    product: str
    apiVersion: str
    selectors: list[str]


class ConstParameterOut(BaseModel):
    key: str
    value: Any = None


class AdditionalApiDescriptionOut(BaseModel):
    product: str
    apiVersion: str
    apiName: str
    apiOverrideJson: str
    executeCliCommand: bool
    enableOutputSchema: bool
    constParameters: list[ConstParameterOut]


class PromptArgumentOut(BaseModel):
    name: str
    description: str
    required: bool


class PromptOut(BaseModel):
    name: str
    description: str
    content: str
    arguments: list[PromptArgumentOut]


class TerraformToolOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    code: str
    name: str
    description: str
    async_: bool = Field(alias="async")
    destroyPolicy: str


class SystemMcpServerInfo(BaseModel):
    product: str
    name: str


class ApiInfo(BaseModel):
    product: str
    apiVersion: str
    apiName: str


class ServerSummary(BaseModel):
    """A server as listed: the full model without `apiInfos` and `requiredRAMPolicy`."""

    id: str
    name: str
    description: str
    language: str
    apis: list[ApiSelectionOut]
    additionalApiDescriptions: list[AdditionalApiDescriptionOut]
    prompts: list[PromptOut]
    urls: Urls
    systemTools: list[str]
    sourceType: str
    systemMcpServerInfo: SystemMcpServerInfo
    oauthClientId: str
    terraformTools: list[TerraformToolOut]
    instructions: str
    enableAssumeRole: bool
    assumeRoleName: str
    assumeRoleExtraPolicy: str
    publicAccess: str
    enableCustomVpcWhitelist: bool
    vpcWhitelists: list[str]
    createTime: str = Field(description="ISO-8601 UTC")
    updateTime: str = Field(description="ISO-8601 UTC")


class GetApiMcpServerResponse(ServerSummary):
    requestId: str
    requiredRAMPolicy: str = Field(description="Policy JSON allowing exactly the actions of apiInfos")
    apiInfos: list[ApiInfo]


class CreateApiMcpServerResponse(BaseModel):
    requestId: str
    id: str
    urls: Urls
    warnings: list[str] = Field(description="Advice that did not prevent the change (e.g. over 30 APIs)")


class UpdateApiMcpServerResponse(BaseModel):
    requestId: str
    warnings: list[str]


class RequestIdResponse(BaseModel):
    requestId: str


class ListApiMcpServersResponse(BaseModel):
    requestId: str
    nextToken: str | None = Field(default=None, description="Absent on the last page")
    totalCount: int
    maxResults: int
    apiMcpServers: list[ServerSummary]


class SystemToolOut(BaseModel):
    name: str
    description: str


class ListApiMcpServerSystemToolsResponse(BaseModel):
    requestId: str
    nextToken: str | None = Field(default=None, description="Absent on the last page")
    maxResults: int
    totalCount: int
    systemTools: list[SystemToolOut]


class GetApiMcpServerUserConfigResponse(BaseModel):
    requestId: str
    accountId: str
    enablePublicAccess: bool
    vpcWhitelists: list[str]
    gmtCreate: str
    gmtModified: str


class ErrorResponse(BaseModel):
    requestId: str
    code: str
    message: str


# Validation errors → one precise ApiError -------------------------------------------------------

# Code segments Alibaba uses for some wire names (e.g. Missing.Apis.PopCode for apis[].product).
_CODE_NAMES = {
    "product": "PopCode",
    "apiVersion": "PopVersion",
    "additionalApiDescriptions": "AdditionalApiDescription",
}
_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "list_type": "an array",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
}


def field_path(loc: Sequence[str | int]) -> str:
    """("apis", 0, "selectors", 1) → "apis[0].selectors[1]"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _code_suffix(loc: Sequence[str | int]) -> str:
    names = [str(p) for p in loc if not isinstance(p, int)]
    return ".".join(_CODE_NAMES.get(n, n[:1].upper() + n[1:]) for n in names)


def api_error_from_validation(errors: Sequence[Mapping[str, Any]], *, skip: int = 0) -> ApiError:
    """Turn the first pydantic error into an ApiError that names the field.

    `skip` drops leading location parts added by the framework (e.g. ("body", "payload")).
    """
    err = errors[0]
    loc = tuple(err.get("loc", ()))[skip:]
    kind = str(err.get("type", ""))
    path = field_path(loc) or "body"
    top = str(loc[0]) if loc else "body"
    if kind == "missing":
        if not loc:
            return ApiError("Missing.Body", "A JSON object request body is mandatory for this action.")
        return ApiError(f"Missing.{_code_suffix(loc)}", f"{path} is mandatory for this action.", field=top)
    if kind == "extra_forbidden":
        if loc == ("name",):
            return ApiError("InvalidParam.Name", "name cannot be changed after the server is created.", field="name")
        return ApiError("InvalidParam.UnknownField", f"Unknown parameter: {path}.", field=top)
    code = f"InvalidParam.{_code_suffix(loc)}" if loc else "InvalidParam.Body"
    if kind in _EXPECTED:
        return ApiError(code, f"{path} must be {_EXPECTED[kind]}.", field=top)
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        return ApiError(code, f"{path}: {err.get('msg', 'out of range')}.", field=top)
    return ApiError(code, f"{path} is not valid: {err.get('msg', kind)}.", field=top)
