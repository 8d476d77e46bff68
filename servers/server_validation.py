"""Meaning checks of a server's fields (SPEC §3.1), pure: no Django, the catalog comes in as a protocol.

The `validate_*` rules are declared on the wire models of `servers.schemas` (field validators): they
get a field's type-checked value (lists of models as wire dicts) and return it normalised (defaults
filled in, duplicates of set-like lists dropped). `server_values` runs, on a validated body, what
needs the catalog or the settings (`check_*`) and returns the model's field values. A problem raises
an `ApiError` with the OpenAPIExplorer code and a message naming the field, e.g. `apis[1].apiVersion`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from oauth.policy import PolicyError, parse_policy
from servers import json_input
from servers.catalog.naming import API_NAME_RE, PRODUCT_CODE_RE, VERSION_RE
from servers.compiler.prompts import prompt_variables
from servers.compiler.server import select
from servers.errors import ApiError, missing
from servers.system_tools import SYSTEM_TOOL_NAMES
from terraform.syntax import HclCheckError, checked_syntax_error

if TYPE_CHECKING:
    from servers.schemas import ServerFields

LANGUAGES = ("EN_US", "ZH_CN")
PUBLIC_ACCESS = ("on", "off", "follow")
DESTROY_POLICIES = ("NEVER", "ALWAYS", "ON_FAILURE")
NAME_PATTERN = r"[a-z_-][a-z0-9_-]{2,63}"
ROLE_NAME_PATTERN = r"[A-Za-z0-9.-]{1,64}"
MAX_DESCRIPTION = 4096
MAX_INSTRUCTIONS = 32768
MAX_LIST = 100
MAX_TEXT_ITEM = 128
MAX_TERRAFORM_TOOLS = 50
MAX_ADDITIONAL_DESCRIPTIONS = 500

# Always `fullmatch`: `re.match` with a `$` anchor accepts a trailing newline ("abc\n").
NAME_RE = re.compile(NAME_PATTERN)
ROLE_NAME_RE = re.compile(ROLE_NAME_PATTERN)
NAME_RULE = (
    "Name must be 3 to 64 characters long, can only contain lowercase letters, numbers, underscores "
    "and hyphens, and cannot start with a digit."
)
OVERRIDE_KEYS = frozenset({"summary", "parameters"})


@dataclass(frozen=True)
class FieldLimits:
    """Limits from settings (see `servers.services.field_limits` and docs/configuration.md)."""

    max_selectors_per_api: int = 100  # SERVER_MAX_SELECTORS_PER_API
    max_apis: int = 1000  # SERVER_MAX_APIS: resolved APIs (tools from `apis`) of one server
    terraform_code_max_bytes: int = 64 * 1024  # TERRAFORM_CODE_MAX_BYTES, per tool
    terraform_check_seconds: float = 3.0  # TERRAFORM_CHECK_TIMEOUT_SECONDS, all tools of one request


class Catalog(Protocol):
    """What validation needs to know about the catalog."""

    def product_exists(self, product: str) -> bool: ...

    def version_exists(self, product: str, version: str) -> bool: ...

    def api_names(self, product: str, version: str) -> list[str]: ...

    def api_definition(self, product: str, version: str, api_name: str) -> Mapping[str, Any] | None: ...


def has_control(value: str) -> bool:
    """True when `value` holds a C0 control character or DEL (NUL, newline, escape…)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _free_text_control(value: str) -> bool:
    """Control characters other than tab, newline and carriage return (which text may hold)."""
    return any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value)


def validate_name(value: str) -> str:
    if not value:
        raise missing("Name", "name")
    if not NAME_RE.fullmatch(value):
        raise ApiError("InvalidParam.Name", f"{NAME_RULE} Got {value[:80]!r}.", field="name")
    return value


def _text(value: str, field: str, limit: int) -> str:
    code = f"InvalidParam.{field[:1].upper()}{field[1:]}"
    if len(value) > limit:
        raise ApiError(code, f"{field} is longer than {limit} characters.", field=field)
    if _free_text_control(value):
        raise ApiError(code, f"{field} must not contain control characters other than tab and newline.", field=field)
    return value


def _one_line(value: str, field: str, limit: int) -> str:
    """A short identifier-like text: at most `limit` characters, no control characters at all."""
    code = f"InvalidParam.{field[:1].upper()}{field[1:]}"
    if len(value) > limit or has_control(value):
        raise ApiError(
            code, f"{field} must be one line of at most {limit} characters without control characters.", field=field
        )
    return value


def _choice(value: str, field: str, allowed: Sequence[str], template: str) -> str:
    if value not in allowed:
        raise ApiError(f"InvalidParam.{field[:1].upper()}{field[1:]}", template % value, field=field)
    return value


def _short_list(items: Sequence[Any], where: str, code: str, limit: int = MAX_LIST) -> None:
    if len(items) > limit:
        raise ApiError(code, f"{where} has {len(items)} entries; at most {limit} are allowed.", field=where)


def _shown(value: str) -> str:
    """`value` as it is when it is short and printable, else quoted and cut (a message stays one line)."""
    return value if len(value) <= 80 and value.isprintable() and value.strip() == value else repr(value[:80])


def _product_version(catalog: Catalog, product: str, version: str, code: str, field: str) -> None:
    # The catalog only holds well-formed codes: anything else is unsupported without a lookup
    # (which also keeps NUL and other control characters away from the database).
    if not PRODUCT_CODE_RE.fullmatch(product) or not catalog.product_exists(product):
        raise ApiError(f"{code}.PopCode", f"Unsupported product code: {_shown(product)}.", field=field)
    if not VERSION_RE.fullmatch(version) or not catalog.version_exists(product, version):
        raise ApiError(
            f"{code}.PopVersion",
            f"Unsupported product version: {_shown(version)} of product code: {product}.",
            field=field,
        )


def validate_apis(apis: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The shape of `apis` (declared on the schema); the catalog is checked by `check_apis`."""
    if not apis:
        raise missing("Apis", "apis")
    _short_list(apis, "apis", "InvalidParam.Apis")
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(apis):
        where = f"apis[{i}]"
        product, version = entry.get("product") or "", entry.get("apiVersion") or ""
        selectors = entry.get("selectors") or []
        if not product:
            raise ApiError("Missing.Apis.PopCode", f"{where}.product is mandatory for this action.", field="apis")
        if not version:
            raise ApiError("Missing.Apis.PopVersion", f"{where}.apiVersion is mandatory for this action.", field="apis")
        if not selectors or not all(selectors):
            raise ApiError(
                "Missing.Apis.Selectors", f"{where}.selectors must list at least one non-empty glob.", field="apis"
            )
        for selector in selectors:
            if len(selector) > MAX_TEXT_ITEM or any(c.isspace() for c in selector) or has_control(selector):
                raise ApiError(
                    "InvalidParam.Apis.Selectors",
                    f"{where}.selectors: {selector[:80]!r} must be a glob of at most {MAX_TEXT_ITEM} characters "
                    "without spaces or control characters.",
                    field="apis",
                )
        if (product, version) in seen:
            raise ApiError(
                "InvalidParam.Apis",
                f"{where} repeats {product} {version}; put all selectors of one product version in one entry.",
                field="apis",
            )
        seen.add((product, version))
        out.append({"product": product, "apiVersion": version, "selectors": list(dict.fromkeys(selectors))})
    return out


def check_apis(apis: Sequence[Mapping[str, Any]], catalog: Catalog, limits: FieldLimits) -> list[dict[str, Any]]:
    """What `apis` needs of the catalog and the settings: the products exist, the selectors stay in bounds."""
    resolved = 0
    for i, entry in enumerate(apis):
        where = f"apis[{i}]"
        product, version, selectors = entry["product"], entry["apiVersion"], entry["selectors"]
        if len(selectors) > limits.max_selectors_per_api:
            raise ApiError(
                "InvalidParam.Apis.Selectors",
                f"{where}.selectors has {len(selectors)} entries; at most {limits.max_selectors_per_api} are allowed "
                "(SERVER_MAX_SELECTORS_PER_API). Use globs such as Describe* to select many APIs.",
                field="apis",
            )
        _product_version(catalog, product, version, "InvalidParam.Apis", "apis")
        resolved += len(select(catalog.api_names(product, version), selectors))
        if resolved > limits.max_apis:
            raise ApiError(
                "InvalidParam.Apis",
                f"The selectors resolve to more than {limits.max_apis} APIs (by {where}); narrow them "
                "(SERVER_MAX_APIS), or enable the SearchApis, GetApiDefinition and CallApi system tools.",
                field="apis",
            )
    return [dict(entry) for entry in apis]


def _check_override(raw: str, definition: Mapping[str, Any], where: str) -> None:
    code = "InvalidParam.AdditionalApiDescription.ApiOverrideJson"
    try:
        override = json_input.loads(raw, field=f"{where}.apiOverrideJson")
    except json_input.JsonInputError as exc:
        raise ApiError(code, exc.message, field="additionalApiDescriptions") from None
    if not isinstance(override, dict):
        raise ApiError(code, f"{where}.apiOverrideJson must be a JSON object.", field="additionalApiDescriptions")
    unknown = sorted(set(override) - OVERRIDE_KEYS)
    if unknown:
        raise ApiError(
            code,
            f"{where}.apiOverrideJson may only override summary and parameters, not {unknown[0]}.",
            field="additionalApiDescriptions",
        )
    if "summary" in override and not isinstance(override["summary"], str):
        raise ApiError(code, f"{where}.apiOverrideJson summary must be a string.", field="additionalApiDescriptions")
    if "parameters" not in override:
        return
    params = override["parameters"]
    if not isinstance(params, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in params):
        raise ApiError(
            code,
            f"{where}.apiOverrideJson parameters must be a list of objects with a name.",
            field="additionalApiDescriptions",
        )
    kept = {p["name"] for p in params}
    for param in definition.get("parameters") or []:
        if (param.get("schema") or {}).get("required") is True and param.get("name") not in kept:
            raise ApiError(
                code,
                f"{where}.apiOverrideJson removes the required parameter {param.get('name')}; "
                "only optional parameters can be removed.",
                field="additionalApiDescriptions",
            )


def validate_additional_descriptions(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The shape of `additionalApiDescriptions` (declared on the schema), defaults filled in."""
    _short_list(items, "additionalApiDescriptions", "InvalidParam.AdditionalApiDescription", 500)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for i, item in enumerate(items):
        where = f"additionalApiDescriptions[{i}]"
        product, version, name = item.get("product") or "", item.get("apiVersion") or "", item.get("apiName") or ""
        for value, label, code in ((product, "product", "PopCode"), (version, "apiVersion", "PopVersion")):
            if not value:
                raise ApiError(
                    f"Missing.AdditionalApiDescription.{code}",
                    f"{where}.{label} is mandatory for this action.",
                    field="additionalApiDescriptions",
                )
        if not name:
            raise ApiError(
                "Missing.AdditionalApiDescription.ApiName",
                f"{where}.apiName is mandatory for this action.",
                field="additionalApiDescriptions",
            )
        if (product, version, name) in seen:
            raise ApiError(
                "InvalidParam.AdditionalApiDescription",
                f"{where} describes {product} {version} {name} a second time.",
                field="additionalApiDescriptions",
            )
        seen.add((product, version, name))
        consts: list[dict[str, Any]] = []
        keys: set[str] = set()
        for j, const in enumerate(item.get("constParameters") or []):
            key = const.get("key") or ""
            if not key:
                raise ApiError(
                    "Missing.AdditionalApiDescription.ConstParameters.Key",
                    f"{where}.constParameters[{j}].key is mandatory for this action.",
                    field="additionalApiDescriptions",
                )
            if len(key) > MAX_TEXT_ITEM or has_control(key):
                raise ApiError(
                    "InvalidParam.AdditionalApiDescription.ConstParameters.Key",
                    f"{where}.constParameters[{j}].key must be a parameter name of at most {MAX_TEXT_ITEM} "
                    "characters without control characters.",
                    field="additionalApiDescriptions",
                )
            if key in keys:
                raise ApiError(
                    "InvalidParam.AdditionalApiDescription.ConstParameters",
                    f"{where}.constParameters sets {key} twice.",
                    field="additionalApiDescriptions",
                )
            keys.add(key)
            consts.append({"key": key, "value": const.get("value")})
        out.append(
            {
                "product": product,
                "apiVersion": version,
                "apiName": name,
                "apiOverrideJson": item.get("apiOverrideJson") or "",
                "executeCliCommand": bool(item.get("executeCliCommand", False)),
                "enableOutputSchema": bool(item.get("enableOutputSchema", False)),
                "constParameters": consts,
            }
        )
    return out


def check_additional_descriptions(items: Sequence[Mapping[str, Any]], catalog: Catalog) -> list[dict[str, Any]]:
    """Each described API exists in the catalog, and its override keeps the required parameters."""
    for i, item in enumerate(items):
        where = f"additionalApiDescriptions[{i}]"
        product, version, name = item["product"], item["apiVersion"], item["apiName"]
        _product_version(
            catalog, product, version, "InvalidParam.AdditionalApiDescription", "additionalApiDescriptions"
        )
        definition = catalog.api_definition(product, version, name) if API_NAME_RE.fullmatch(name) else None
        if definition is None:
            raise ApiError(
                "InvalidParam.AdditionalApiDescription.ApiName",
                f"{where}: API {_shown(name)} does not exist in {product} {version}.",
                field="additionalApiDescriptions",
            )
        if item["apiOverrideJson"]:
            _check_override(item["apiOverrideJson"], definition, where)
    return [dict(item) for item in items]


def validate_prompts(prompts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    _short_list(prompts, "prompts", "InvalidParam.Prompts")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, prompt in enumerate(prompts):
        where = f"prompts[{i}]"
        name = prompt.get("name") or ""
        if not name:
            raise ApiError("Missing.Prompts.Name", f"{where}.name is mandatory for this action.", field="prompts")
        if len(name) > MAX_TEXT_ITEM or has_control(name) or name in names:
            problem = (
                "is used by another prompt"
                if name in names
                else f"must be one line of at most {MAX_TEXT_ITEM} characters without control characters"
            )
            raise ApiError("InvalidParam.Prompts.Name", f"{where}.name {name[:80]!r} {problem}.", field="prompts")
        names.add(name)
        arguments: list[dict[str, Any]] = []
        declared: set[str] = set()
        for j, arg in enumerate(prompt.get("arguments") or []):
            arg_name = arg.get("name") or ""
            if not arg_name:
                raise ApiError(
                    "Missing.Prompts.Arguments.Name",
                    f"{where}.arguments[{j}].name is mandatory for this action.",
                    field="prompts",
                )
            if len(arg_name) > MAX_TEXT_ITEM or has_control(arg_name):
                raise ApiError(
                    "InvalidParam.Prompts.Arguments.Name",
                    f"{where}.arguments[{j}].name must be one line of at most {MAX_TEXT_ITEM} characters without "
                    "control characters.",
                    field="prompts",
                )
            if arg_name in declared:
                raise ApiError(
                    "InvalidParam.Prompts.Arguments", f"{where}.arguments declares {arg_name} twice.", field="prompts"
                )
            declared.add(arg_name)
            arguments.append(
                {"name": arg_name, "description": arg.get("description") or "", "required": bool(arg.get("required"))}
            )
        content = prompt.get("content") or ""
        for variable in prompt_variables(content):
            if variable not in declared:
                raise ApiError(
                    "InvalidParam.Prompts.Content",
                    f"{where}.content uses {{{{{variable}}}}}, which is not declared in {where}.arguments.",
                    field="prompts",
                )
        out.append(
            {"name": name, "description": prompt.get("description") or "", "content": content, "arguments": arguments}
        )
    return out


def validate_system_tools(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in SYSTEM_TOOL_NAMES:
            raise ApiError("InvalidParam.SystemTools", f"System tool {name} is not supported.", field="systemTools")
    return list(dict.fromkeys(names))


def validate_terraform_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The shape of `terraformTools` (declared on the schema); size and syntax: `check_terraform_tools`."""
    _short_list(tools, "terraformTools", "InvalidParam.TerraformTools", 50)
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"terraformTools[{i}]"
        name, code, description = tool.get("name") or "", tool.get("code") or "", tool.get("description") or ""
        for value, label in ((name, "Name"), (code, "Code"), (description, "Description")):
            if not value:
                raise ApiError(
                    f"Missing.TerraformTools.{label}",
                    f"TerraformTools.{label} is mandatory for this action ({where}.{label.lower()}).",
                    field="terraformTools",
                )
        if not NAME_RE.fullmatch(name):
            raise ApiError(
                "InvalidParam.TerraformTools.Name",
                f"TerraformTools.Name: {_shown(name)} must be 3 to 64 characters long and can only contain lowercase "
                "letters, numbers, underscores, and hyphens, and cannot start with a digit.",
                field="terraformTools",
            )
        if name in names:
            raise ApiError(
                "Exists.TerraformTools.Name",
                f"The Terraform tool name already exists: {name} ({where}).",
                409,
                field="terraformTools",
            )
        names.add(name)
        if "\x00" in code:
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"{where}.code must not contain NUL characters.",
                field="terraformTools",
            )
        policy = tool.get("destroyPolicy") or "NEVER"
        if policy not in DESTROY_POLICIES:
            raise ApiError(
                "InvalidParam.TerraformTools.DestroyPolicy",
                f"{where}.destroyPolicy must be one of NEVER, ALWAYS, ON_FAILURE; got {policy!r}.",
                field="terraformTools",
            )
        out.append(
            {
                "name": name,
                "description": description,
                "code": code,
                "async": bool(tool.get("async", False)),
                "destroyPolicy": policy,
            }
        )
    return out


def check_terraform_tools(tools: Sequence[Mapping[str, Any]], limits: FieldLimits) -> list[dict[str, Any]]:
    """The limits that are settings: code size, and HCL syntax within one time budget for the request."""
    deadline = time.monotonic() + limits.terraform_check_seconds
    for i, tool in enumerate(tools):
        where = f"terraformTools[{i}]"
        code = tool["code"]
        size = len(code.encode())
        if size > limits.terraform_code_max_bytes:
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"{where}.code is {size} bytes; at most {limits.terraform_code_max_bytes} bytes are allowed "
                "(TERRAFORM_CODE_MAX_BYTES).",
                field="terraformTools",
            )
        try:
            problem = checked_syntax_error(code, timeout_seconds=max(0.0, deadline - time.monotonic()))
        except HclCheckError as exc:
            why = (
                f"could not be checked within {limits.terraform_check_seconds:g} s (TERRAFORM_CHECK_TIMEOUT_SECONDS, "
                "for all Terraform tools of one request together)"
                if exc.timed_out
                else f"could not be checked: {exc}"
            )
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"The Terraform tool code {where}.code {why}; simplify or split it.",
                field="terraformTools",
            ) from None
        if problem:
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"The Terraform tool code is not valid: {where} {problem}. Please check the syntax and try again.",
                field="terraformTools",
            )
    return [dict(tool) for tool in tools]


def validate_vpc_whitelists(items: Sequence[str], field: str = "vpcWhitelists") -> list[str]:
    _short_list(items, field, "InvalidParam.VpcWhitelists")
    for item in items:
        if not item or len(item) > MAX_TEXT_ITEM or any(c.isspace() for c in item) or has_control(item):
            raise ApiError(
                "InvalidParam.VpcWhitelists",
                f"{field}: {item[:80]!r} must be a network id, IP network or address of 1 to {MAX_TEXT_ITEM} "
                "characters without spaces or control characters.",
                field=field,
            )
    return list(dict.fromkeys(items))


def validate_assume_role_name(value: str) -> str:
    if value and not ROLE_NAME_RE.fullmatch(value):
        raise ApiError(
            "InvalidParam.AssumeRoleName",
            f"assumeRoleName {value[:80]!r} must be 1 to 64 letters, digits, periods or hyphens.",
            field="assumeRoleName",
        )
    return value


def validate_extra_policy(value: str) -> str:
    if not value:
        return value
    try:
        parse_policy(json_input.loads(value, field="assumeRoleExtraPolicy"))
    except json_input.JsonInputError as exc:
        raise ApiError("InvalidParam.AssumeRoleExtraPolicy", exc.message, field="assumeRoleExtraPolicy") from None
    except (ValueError, PolicyError) as exc:
        raise ApiError(
            "InvalidParam.AssumeRoleExtraPolicy",
            f"assumeRoleExtraPolicy is not a valid policy document: {exc}",
            field="assumeRoleExtraPolicy",
        ) from None
    return value


def validate_description(value: str) -> str:
    return _text(value, "description", MAX_DESCRIPTION)


def validate_instructions(value: str) -> str:
    return _text(value, "instructions", MAX_INSTRUCTIONS)


def validate_oauth_client_id(value: str) -> str:
    return _one_line(value, "oauthClientId", 200)


def validate_language(value: str) -> str:
    return _choice(value, "language", LANGUAGES, "Unsupported language: %s.")


def validate_public_access(value: str) -> str:
    return _choice(value, "publicAccess", PUBLIC_ACCESS, "Unsupported publicAccess: %s (on, off or follow).")


# Wire name → model field, in the order the checks report (the first problem of a request).
WIRE_FIELDS = {
    "name": "name",
    "description": "description",
    "language": "language",
    "apis": "apis",
    "additionalApiDescriptions": "additional_api_descriptions",
    "prompts": "prompts",
    "systemTools": "system_tools",
    "oauthClientId": "oauth_client_id",
    "instructions": "instructions",
    "enableAssumeRole": "enable_assume_role",
    "assumeRoleName": "assume_role_name",
    "assumeRoleExtraPolicy": "assume_role_extra_policy",
    "publicAccess": "public_access",
    "enableCustomVpcWhitelist": "enable_custom_vpc_whitelist",
    "terraformTools": "terraform_tools",
    "vpcWhitelists": "vpc_whitelists",
}


def server_values(body: ServerFields, catalog: Catalog, limits: FieldLimits = FieldLimits()) -> dict[str, Any]:
    """Model field values of the fields set in a validated body (name excluded), after the checks that
    need the catalog or the settings: products, versions and APIs exist, overrides keep required
    parameters, selector, API and Terraform limits."""
    wire = body.model_dump(exclude_unset=True, by_alias=True)
    out: dict[str, Any] = {}
    for name, model_field in WIRE_FIELDS.items():
        if name == "name" or name not in wire:
            continue
        value = wire[name]
        if name == "apis":
            value = check_apis(value, catalog, limits)
        elif name == "additionalApiDescriptions":
            value = check_additional_descriptions(value, catalog)
        elif name == "terraformTools":
            value = check_terraform_tools(value, limits)
        out[model_field] = value
    return out


def check_consistency(fields: Mapping[str, Any]) -> None:
    """Rules between fields, on the merged (stored + changed) values."""
    if fields.get("enable_assume_role") and not fields.get("assume_role_name"):
        raise ApiError(
            "Missing.AssumeRoleName",
            "assumeRoleName is mandatory when enableAssumeRole is true.",
            field="assumeRoleName",
        )
