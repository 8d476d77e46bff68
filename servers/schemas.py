"""Wire shapes of the management API (OpenAPIExplorer 2024-11-30), as pydantic models (pure, no Django).

Attribute names are the contract's camelCase names on purpose: they mirror
`specs/alibaba/openapiexplorer-2024-11-30.json` one to one (only `async`, a Python keyword, needs an
alias). Input models are strict (no coercion: `"true"` is not a boolean) and forbid unknown fields.
Their field validators run the rules of `servers.server_validation` (name format, control
characters, prompt variables, policy documents…) and carry each rule's ApiError code, so a body is
validated once, here, for the API (through django-ninja) and the console (through its form) alike;
what needs the catalog or the settings is `server_validation.server_values`, run by the services.

The limits are declared here too, as JSON Schema keywords of the OpenAPI document only
(`maxLength`, `pattern`, `maxItems`, `required`…: pydantic does not enforce them, so the errors stay
those of the rules), from the same constants, so that a request valid by the document is not
refused for its shape. Patterns are unanchored in Python (always used with `fullmatch`) and written
`^…$` in the document, where `$` means the end of the string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from servers import server_validation as rules
from servers.catalog.naming import API_NAME_PATTERN, PRODUCT_CODE_PATTERN, VERSION_PATTERN
from servers.errors import ApiError
from servers.server_validation import (
    DESTROY_POLICIES,
    LANGUAGES,
    MAX_ADDITIONAL_DESCRIPTIONS,
    MAX_DESCRIPTION,
    MAX_INSTRUCTIONS,
    MAX_LIST,
    MAX_TERRAFORM_TOOLS,
    MAX_TEXT_ITEM,
    NAME_PATTERN,
    PUBLIC_ACCESS,
    ROLE_NAME_PATTERN,
)
from servers.system_tools import SYSTEM_TOOL_NAMES

__all__ = [
    "DESTROY_POLICIES",
    "LANGUAGES",
    "MAX_ADDITIONAL_DESCRIPTIONS",
    "MAX_DESCRIPTION",
    "MAX_INSTRUCTIONS",
    "MAX_LIST",
    "MAX_TERRAFORM_TOOLS",
    "MAX_TEXT_ITEM",
    "NAME_PATTERN",
    "PUBLIC_ACCESS",
    "ROLE_NAME_PATTERN",
]

SOURCE_TYPES = ("custom", "system")
# Defaults of the settings SERVER_MAX_SELECTORS_PER_API and TERRAFORM_CODE_MAX_BYTES (the document
# states these defaults; an installation that changes the settings enforces its own values).
DEFAULT_MAX_SELECTORS = 100
DEFAULT_TERRAFORM_CODE_MAX_BYTES = 64 * 1024

# Document-only patterns (JSON Schema, ECMA-262 syntax, anchored).
TEXT_RE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # free text: tab, newline and CR are the only controls
LINE_RE = r"^[^\x00-\x1f\x7f]*$"  # one line, no control characters
TOKEN_RE = r"^[^\s\x00-\x1f\x7f\x85]+$"  # no spaces (str.isspace: also NEL), no control characters
NO_NUL_RE = r"^[^\x00]*$"  # any text but NUL, which no string of a request may hold (servers.json_input)
NOT_BLANK_RE = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"  # not empty once str.strip()ped, no NUL


def anchored(pattern: str) -> str:
    return f"^{pattern}$"


def _opt(description: str = "", enum: Sequence[str] | None = None, alias: str | None = None, **schema: Any) -> Any:
    """An optional field whose absence (not null) means "not given"; `schema`: document-only keywords."""
    extra: dict[str, Any] = {"enum": list(enum)} if enum else {}
    extra.update(schema)
    return Field(default=None, description=description, alias=alias, json_schema_extra=extra or None)


def _text(description: str = "", max_length: int = MAX_DESCRIPTION, **schema: Any) -> Any:
    return _opt(description, maxLength=max_length, pattern=TEXT_RE, **schema)


def _strings(description: str = "", max_items: int = MAX_LIST, **item: Any) -> Any:
    return _opt(description, maxItems=max_items, items={"type": "string", **item})


def _required(*names: str) -> ConfigDict:
    """Input strictness plus the fields the document lists as required (checked by the rules)."""
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"required": list(names)})


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


API_ERROR = "api_error"  # the pydantic error type of a declared check; its ctx holds the ApiError


def _declared(field: str, rule: Callable[[Any], Any], item: type[BaseModel] | None = None) -> Any:
    """A field validator running `rule` (from `servers.server_validation`) on the type-checked value.

    The rule's ApiError becomes a pydantic error of type `api_error` that keeps its code, message,
    status and field, so every error of a body is collected at once and rendered as before. List
    fields of models are checked as their wire dicts and come back normalised (defaults filled in).
    """

    def check(value: Any) -> Any:
        raw = [v.model_dump(exclude_unset=True, by_alias=True) for v in value] if item else value
        try:
            out = rule(raw)
        except ApiError as exc:
            ctx = {"code": exc.code, "message": exc.message, "status": exc.status, "field": exc.field}
            raise PydanticCustomError(API_ERROR, "{message}", ctx) from None
        return [item.model_validate(v) for v in out] if item else out

    return field_validator(field)(check)


# Request bodies ------------------------------------------------------------------------------


_PRODUCT: dict[str, Any] = {"minLength": 1, "maxLength": 64, "pattern": anchored(PRODUCT_CODE_PATTERN)}
_VERSION: dict[str, Any] = {"minLength": 1, "maxLength": 64, "pattern": anchored(VERSION_PATTERN)}
_SELECTOR: dict[str, Any] = {"minLength": 1, "maxLength": MAX_TEXT_ITEM, "pattern": TOKEN_RE}
_NETWORK: dict[str, Any] = {"minLength": 1, "maxLength": MAX_TEXT_ITEM, "pattern": TOKEN_RE}
_ITEM_NAME: dict[str, Any] = {"minLength": 1, "maxLength": MAX_TEXT_ITEM, "pattern": LINE_RE}


class ApiSelection(_Input):
    product: str = Field(description="Product code, e.g. Ecs", json_schema_extra=_PRODUCT)
    apiVersion: str = Field(description="Product version, e.g. 2014-05-26", json_schema_extra=_VERSION)
    selectors: list[str] = Field(
        description="Case-sensitive globs (`*`, `?`) on API names; at most SERVER_MAX_SELECTORS_PER_API",
        json_schema_extra={"minItems": 1, "maxItems": DEFAULT_MAX_SELECTORS, "items": {"type": "string", **_SELECTOR}},
    )


class ConstParameter(_Input):
    model_config = _required("key")

    key: str = _opt("Top-level parameter name (`body.X` for ROA body properties)", **_ITEM_NAME)
    value: Any = _opt("Constant value merged in at call time")


class AdditionalApiDescription(_Input):
    model_config = _required("product", "apiVersion", "apiName")

    product: str = _opt(**_PRODUCT)
    apiVersion: str = _opt(**_VERSION)
    apiName: str = _opt(minLength=1, maxLength=128, pattern=anchored(API_NAME_PATTERN))
    apiOverrideJson: str = _opt("JSON object overriding `summary` and `parameters`", pattern=NO_NUL_RE)
    executeCliCommand: bool = _opt("Return the CLI command instead of calling the API")
    enableOutputSchema: bool = _opt("Publish the response schema as outputSchema")
    constParameters: list[ConstParameter] = _opt()


class PromptArgument(_Input):
    model_config = _required("name")

    name: str = _opt(**_ITEM_NAME)
    description: str = _text()
    required: bool = _opt()


class Prompt(_Input):
    model_config = _required("name")

    name: str = _opt(**_ITEM_NAME)
    description: str = _text()
    content: str = _opt("Text with `{{argument}}` placeholders", pattern=NO_NUL_RE)
    arguments: list[PromptArgument] = _opt()


class TerraformTool(_Input):
    model_config = _required("name", "code", "description")

    code: str = _opt(
        "HCL, at most TERRAFORM_CODE_MAX_BYTES bytes of UTF-8, checked within TERRAFORM_CHECK_TIMEOUT_SECONDS",
        minLength=1,
        maxLength=DEFAULT_TERRAFORM_CODE_MAX_BYTES,
        pattern=NO_NUL_RE,
    )
    name: str = _opt(minLength=3, maxLength=64, pattern=anchored(NAME_PATTERN))
    description: str = _text(minLength=1)
    async_: bool = _opt("Return a TaskId at once", alias="async")
    destroyPolicy: str = _opt(enum=DESTROY_POLICIES)


class ServerFields(_Input):
    """Fields shared by CreateApiMcpServer and UpdateApiMcpServer bodies."""

    description: str = _text()
    language: str = _opt("Language of generated tool text", LANGUAGES)
    additionalApiDescriptions: list[AdditionalApiDescription] = _opt(maxItems=MAX_ADDITIONAL_DESCRIPTIONS)
    prompts: list[Prompt] = _opt(maxItems=MAX_LIST)
    systemTools: list[str] = _strings("Names from ListApiMcpServerSystemTools", enum=sorted(SYSTEM_TOOL_NAMES))
    oauthClientId: str = _opt(
        "Custom OAuth: only tokens issued to this client are accepted", maxLength=200, pattern=LINE_RE
    )
    instructions: str = _text(max_length=MAX_INSTRUCTIONS)
    enableAssumeRole: bool = _opt()
    assumeRoleName: str = _opt(pattern=f"^({ROLE_NAME_PATTERN})?$")
    assumeRoleExtraPolicy: str = _opt("Policy JSON intersected with the assumed role's policies", pattern=NO_NUL_RE)
    publicAccess: str = _opt(enum=PUBLIC_ACCESS)
    enableCustomVpcWhitelist: bool = _opt()
    terraformTools: list[TerraformTool] = _opt(maxItems=MAX_TERRAFORM_TOOLS)
    vpcWhitelists: list[str] = _strings("Network ids (MCP_NETWORKS), IP networks or addresses", **_NETWORK)

    _description = _declared("description", rules.validate_description)
    _language = _declared("language", rules.validate_language)
    _additional = _declared(
        "additionalApiDescriptions", rules.validate_additional_descriptions, AdditionalApiDescription
    )
    _prompts = _declared("prompts", rules.validate_prompts, Prompt)
    _system_tools = _declared("systemTools", rules.validate_system_tools)
    _oauth_client_id = _declared("oauthClientId", rules.validate_oauth_client_id)
    _instructions = _declared("instructions", rules.validate_instructions)
    _assume_role_name = _declared("assumeRoleName", rules.validate_assume_role_name)
    _extra_policy = _declared("assumeRoleExtraPolicy", rules.validate_extra_policy)
    _public_access = _declared("publicAccess", rules.validate_public_access)
    _terraform_tools = _declared("terraformTools", rules.validate_terraform_tools, TerraformTool)
    _vpc_whitelists = _declared("vpcWhitelists", rules.validate_vpc_whitelists)


class CreateApiMcpServerBody(ServerFields):
    name: str = Field(
        description="3-64 chars of a-z 0-9 _ -, not starting with a digit; unique per account",
        json_schema_extra={"minLength": 3, "maxLength": 64, "pattern": anchored(NAME_PATTERN)},
    )
    apis: list[ApiSelection] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_LIST})
    clientToken: str = _opt("Idempotency token: ASCII, at most 64 characters", maxLength=64, pattern="^[!-~]*$")

    _name = _declared("name", rules.validate_name)
    _apis = _declared("apis", rules.validate_apis, ApiSelection)


class UpdateApiMcpServerBody(ServerFields):
    apis: list[ApiSelection] = _opt(minItems=1, maxItems=MAX_LIST)

    _apis = _declared("apis", rules.validate_apis, ApiSelection)


class UpdateApiMcpServerUserConfigBody(_Input):
    enablePublicAccess: bool = _opt()
    vpcWhitelists: list[str] = _strings("Network ids (MCP_NETWORKS), IP networks or addresses", **_NETWORK)

    _vpc_whitelists = _declared("vpcWhitelists", rules.validate_vpc_whitelists)


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


def _api_error(err: Mapping[str, Any], skip: int) -> ApiError:
    loc = tuple(err.get("loc", ()))[skip:]
    kind = str(err.get("type", ""))
    path = field_path(loc) or "body"
    top = str(loc[0]) if loc else "body"
    if kind == API_ERROR:
        ctx = err.get("ctx") or {}
        return ApiError(ctx["code"], ctx["message"], int(ctx["status"]), field=ctx["field"])
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


_CHECK_ORDER = {name: i for i, name in enumerate(rules.WIRE_FIELDS)}


def api_errors(errors: Sequence[Mapping[str, Any]], *, skip: int = 0) -> list[ApiError]:
    """Every pydantic error as an ApiError naming its field: type errors first, then the declared
    checks in `server_validation.WIRE_FIELDS` order (so the first one is the request's answer).

    `skip` drops leading location parts added by the framework (e.g. ("body", "payload")).
    """

    def rank(err: Mapping[str, Any]) -> tuple[int, int]:
        if err.get("type") != API_ERROR:
            return (0, 0)
        loc = tuple(err.get("loc", ()))[skip:]
        return (1, _CHECK_ORDER.get(str(loc[0]) if loc else "", len(_CHECK_ORDER)))

    return [_api_error(err, skip) for err in sorted(errors, key=rank)]


def api_error_from_validation(errors: Sequence[Mapping[str, Any]], *, skip: int = 0) -> ApiError:
    """The ApiError a request answers with: the first of `api_errors`."""
    return api_errors(errors, skip=skip)[0]


Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], data: Mapping[str, Any]) -> Body:
    """`data` validated as `model`; the first problem raises its ApiError."""
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise api_error_from_validation(exc.errors(include_url=False)) from None
